// presets.js — the demo's tool sets: each is a list of tools (Needle flat, OpenAI and
// Anthropic shapes, as a package user would pass them) plus example queries with the call a
// trained model should make (`expect`, used by tests/demo once the default model lands).
// `page: true` marks the set whose calls act on this page (actions.js).

const str = (description, extra = {}) => ({ type: "string", description, ...extra });
const int = (description, extra = {}) => ({ type: "integer", description, ...extra });
const num = (description, extra = {}) => ({ type: "number", description, ...extra });
const bool = (description, extra = {}) => ({ type: "boolean", description, ...extra });
const req = (p) => ({ ...p, required: true });

export const PRESETS = [
  {
    id: "smart-home", label: "Smart home",
    tools: [
      { name: "set_lights", description: "Turn lights on or off in a room, optionally dimmed.",
        parameters: { room: req(str("Room name.", { enum: ["kitchen", "living room", "bedroom", "bathroom", "office"] })),
                      on: req(bool("True to switch on.")), brightness: int("Brightness in percent, 0-100.") } },
      { name: "set_thermostat", description: "Set the target temperature.",
        parameters: { temperature: req(num("Target temperature in degrees Celsius.")), room: str("Room name.") } },
      { name: "lock_door", description: "Lock or unlock a door.",
        parameters: { door: req(str("Which door.", { enum: ["front", "back", "garage"] })), locked: req(bool("True to lock.")) } },
    ],
    examples: [
      { query: "Turn on the kitchen lights", expect: [{ name: "set_lights", arguments: { room: "kitchen", on: true } }] },
      { query: "Set the thermostat to 21 degrees", expect: [{ name: "set_thermostat", arguments: { temperature: 21 } }] },
      { query: "Lock the front door", expect: [{ name: "lock_door", arguments: { door: "front", locked: true } }] },
    ],
  },
  {
    id: "messaging", label: "Messaging",
    tools: [
      { name: "send_message", description: "Send a text message to a contact.",
        input_schema: { type: "object", properties: { to: { type: "string", description: "Contact name." },
                        text: { type: "string", description: "Message body." } }, required: ["to", "text"] } },
      { name: "call_contact", description: "Start a phone call.",
        input_schema: { type: "object", properties: { name: { type: "string" }, video: { type: "boolean" } }, required: ["name"] } },
      { name: "send_email", description: "Send an email.",
        input_schema: { type: "object", properties: { to: { type: "string" }, subject: { type: "string" }, body: { type: "string" } },
                        required: ["to", "subject"] } },
    ],
    examples: [
      { query: "Text Bob that I'm running late", expect: [{ name: "send_message", arguments: { to: "Bob", text: "I'm running late" } }] },
      { query: "Video call Mom", expect: [{ name: "call_contact", arguments: { name: "Mom", video: true } }] },
      { query: "Email Alice with the subject lunch", expect: [{ name: "send_email", arguments: { to: "Alice", subject: "lunch" } }] },
    ],
  },
  {
    id: "calendar", label: "Calendar & reminders",
    tools: [
      { name: "create_event", description: "Add an event to the calendar.",
        parameters: { title: req(str("Event title.")), date: req(str("Date, YYYY-MM-DD.")), time: str("Start time, HH:MM."),
                      duration_minutes: int("Length in minutes.") } },
      { name: "create_reminder", description: "Remind the user of something at a time.",
        parameters: { text: req(str("What to remember.")), time: req(str("When, HH:MM.")) } },
      { name: "list_events", description: "List the events of a day.", parameters: { date: req(str("Date, YYYY-MM-DD.")) } },
    ],
    examples: [
      { query: "Remind me to call the dentist at 15:00", expect: [{ name: "create_reminder", arguments: { text: "call the dentist", time: "15:00" } }] },
      { query: "Add a team meeting on 2026-12-01 at 10:00", expect: [{ name: "create_event", arguments: { title: "team meeting", date: "2026-12-01", time: "10:00" } }] },
      { query: "What's on my calendar on 2026-11-27?", expect: [{ name: "list_events", arguments: { date: "2026-11-27" } }] },
    ],
  },
  {
    id: "media", label: "Media",
    tools: [
      { type: "function", function: { name: "play_music", description: "Play a song, artist or playlist.",
        parameters: { type: "object", properties: { query: { type: "string" }, shuffle: { type: "boolean" } }, required: ["query"] } } },
      { type: "function", function: { name: "set_volume", description: "Set the playback volume.",
        parameters: { type: "object", properties: { level: { type: "integer", description: "0-100" } }, required: ["level"] } } },
      { type: "function", function: { name: "playback", description: "Control playback.",
        parameters: { type: "object", properties: { action: { type: "string", enum: ["pause", "resume", "next", "previous"] } },
                      required: ["action"] } } },
    ],
    examples: [
      { query: "Play some jazz", expect: [{ name: "play_music", arguments: { query: "jazz" } }] },
      { query: "Set the volume to 30", expect: [{ name: "set_volume", arguments: { level: 30 } }] },
      { query: "Skip to the next song", expect: [{ name: "playback", arguments: { action: "next" } }] },
    ],
  },
  {
    id: "navigation", label: "Navigation & rides",
    tools: [
      { name: "get_directions", description: "Directions to a place.",
        parameters: { destination: req(str("Where to.")), mode: str("How.", { enum: ["driving", "walking", "transit", "cycling"] }) } },
      { name: "book_ride", description: "Book a ride to a destination.",
        parameters: { destination: req(str("Drop-off address or place.")), seats: int("Number of passengers.") } },
      { name: "find_nearby", description: "Find places nearby.", parameters: { category: req(str("What kind of place.")) } },
    ],
    examples: [
      { query: "Walking directions to the train station", expect: [{ name: "get_directions", arguments: { destination: "the train station", mode: "walking" } }] },
      { query: "Book a ride to the airport for two people", expect: [{ name: "book_ride", arguments: { destination: "the airport", seats: 2 } }] },
      { query: "Find coffee shops near me", expect: [{ name: "find_nearby", arguments: { category: "coffee shops" } }] },
    ],
  },
  {
    id: "shopping", label: "Shopping",
    tools: [
      { name: "add_to_cart", description: "Add a product to the shopping cart.",
        parameters: { product: req(str("Product name.")), quantity: int("How many.") } },
      { name: "search_products", description: "Search the store.",
        parameters: { query: req(str("Search terms.")), max_price: num("Highest price in dollars.") } },
      { name: "track_order", description: "Where is an order.", parameters: { order_id: req(str("Order number.")) } },
    ],
    examples: [
      { query: "Add two bags of coffee to my cart", expect: [{ name: "add_to_cart", arguments: { product: "coffee", quantity: 2 } }] },
      { query: "Find running shoes under 80 dollars", expect: [{ name: "search_products", arguments: { query: "running shoes", max_price: 80 } }] },
      { query: "Where is order 4471?", expect: [{ name: "track_order", arguments: { order_id: "4471" } }] },
    ],
  },
  {
    id: "device", label: "Device settings",
    tools: [
      { name: "set_wifi", description: "Turn Wi-Fi on or off.", parameters: { enabled: req(bool("True to turn on.")) } },
      { name: "set_brightness", description: "Set the screen brightness.", parameters: { level: req(int("Percent, 0-100.")) } },
      { name: "set_do_not_disturb", description: "Silence notifications.",
        parameters: { enabled: req(bool("True to silence.")), minutes: int("For how long.") } },
    ],
    examples: [
      { query: "Turn off Wi-Fi", expect: [{ name: "set_wifi", arguments: { enabled: false } }] },
      { query: "Brightness to 70 percent", expect: [{ name: "set_brightness", arguments: { level: 70 } }] },
      { query: "Do not disturb for 45 minutes", expect: [{ name: "set_do_not_disturb", arguments: { enabled: true, minutes: 45 } }] },
    ],
  },
  {
    id: "page", label: "This page (actions)", page: true,
    tools: [
      { name: "set_theme", description: "Change the colour theme of this page.",
        parameters: { theme: req(str("Theme name.", { enum: ["light", "dark", "contrast"] })) } },
      { name: "add_todo", description: "Add an item to the to-do list on this page.", parameters: { text: req(str("The item.")) } },
      { name: "set_timer", description: "Start a countdown timer on this page.",
        parameters: { minutes: req(int("Minutes.")), seconds: int("Extra seconds."), label: str("What the timer is for.") } },
      { name: "clear_todos", description: "Remove every item from the to-do list.", parameters: {} },
    ],
    examples: [
      { query: "Switch to the dark theme", expect: [{ name: "set_theme", arguments: { theme: "dark" } }] },
      { query: "Add buy milk to my to-do list", expect: [{ name: "add_todo", arguments: { text: "buy milk" } }] },
      { query: "Set a 5 minute timer for the tea", expect: [{ name: "set_timer", arguments: { minutes: 5, label: "tea" } }] },
    ],
  },
];
