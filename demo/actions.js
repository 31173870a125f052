// actions.js — the "This page" preset's dispatcher: turns a function call from the model
// into a change on this page (theme, to-do list, timers). Unknown names or bad arguments are
// reported, never thrown, because the model's output is data, not trusted code.
//   dispatch({ name: "set_theme", arguments: { theme: "dark" } })
//     -> { ok: true, text: "Theme set to dark" }   and <html data-theme="dark">

const THEMES = ["light", "dark", "contrast"];

export function createActions({ root = document.documentElement, todoList, timerList, onChange = () => {} }) {
  const timers = new Set();
  const fmt = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;

  const handlers = {
    set_theme({ theme }) {
      if (!THEMES.includes(theme)) return { ok: false, text: `Unknown theme ${JSON.stringify(theme)}` };
      root.dataset.theme = theme;
      try { localStorage.setItem("np-demo-theme", theme); } catch { /* storage off: theme lasts this visit */ }
      return { ok: true, text: `Theme set to ${theme}` };
    },
    add_todo({ text }) {
      if (typeof text !== "string" || !text.trim()) return { ok: false, text: "A to-do needs text" };
      const li = document.createElement("li");
      li.textContent = text.trim();
      todoList.append(li);
      return { ok: true, text: `Added "${text.trim()}" to the to-do list` };
    },
    clear_todos() {
      const n = todoList.children.length;
      todoList.replaceChildren();
      return { ok: true, text: `Removed ${n} to-do item${n === 1 ? "" : "s"}` };
    },
    set_timer({ minutes, seconds = 0, label = "" }) {
      const total = Math.round(Number(minutes) * 60 + Number(seconds));
      if (!Number.isFinite(total) || total <= 0 || total > 24 * 3600) return { ok: false, text: "A timer needs a length between 1 s and 24 h" };
      const li = document.createElement("li");
      li.className = "timer";
      const name = document.createElement("span");
      name.textContent = label ? String(label) : "Timer";
      const time = document.createElement("time");
      time.setAttribute("role", "timer");
      li.append(name, " ", time);
      timerList.append(li);
      const end = Date.now() + total * 1000;
      const tick = () => {
        const left = Math.max(0, Math.round((end - Date.now()) / 1000));
        time.textContent = fmt(left);
        time.dateTime = `PT${left}S`;
        if (left === 0) { clearInterval(id); timers.delete(id); li.classList.add("done"); name.textContent += " (done)"; }
      };
      const id = setInterval(tick, 1000);
      timers.add(id);
      tick();
      return { ok: true, text: `Timer${label ? ` "${label}"` : ""} set for ${fmt(total)}` };
    },
  };

  return {
    names: Object.keys(handlers),
    dispatch(call) {
      const h = call && Object.hasOwn(handlers, call.name) ? handlers[call.name] : null;
      const out = h ? h(call.arguments ?? {}) : { ok: false, text: `This page has no action "${call?.name}"` };
      onChange(call, out);
      return out;
    },
  };
}
