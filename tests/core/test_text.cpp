// test_text.cpp — util/text.h: ASCII folding that leaves UTF-8 alone, and whole-piece search
// (the word edges the copy prior, the enum rule and the repeated-call check all rely on).
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "util/text.h"

TEST_CASE("ascii_lowered folds A-Z only and leaves other bytes as they are", "[text]") {
  CHECK(np::ascii_lowered("Play JAZZ in Room 5!") == "play jazz in room 5!");
  // "ÉCOLE" in UTF-8: the two bytes of É (0xC3 0x89) are not touched, the ASCII letters are.
  CHECK(np::ascii_lowered("\xC3\x89" "COLE") == "\xC3\x89" "cole");
  CHECK(np::ascii_lowered("") == "");
  CHECK(np::ascii_lower('Z') == 'z');
  CHECK(np::ascii_lower('[') == '[');  // the byte after 'Z'
  CHECK(np::ascii_lower('@') == '@');  // the byte before 'A'
}

TEST_CASE("word_byte: letters, digits and non-ASCII bytes are word characters", "[text]") {
  CHECK(np::word_byte('a'));
  CHECK(np::word_byte('Q'));
  CHECK(np::word_byte('7'));
  CHECK(np::word_byte('\xC3'));
  CHECK_FALSE(np::word_byte(' '));
  CHECK_FALSE(np::word_byte('-'));
  CHECK_FALSE(np::word_byte('_'));
  CHECK_FALSE(np::word_byte('\''));
}

TEST_CASE("whole_piece_at: a piece's edge may not cut a word", "[text]") {
  const std::string q = "display the playlist, then play it";
  CHECK_FALSE(np::whole_piece_at(q, q.find("play"), 4));        // inside "display"
  CHECK_FALSE(np::whole_piece_at(q, q.find("playlist"), 4));    // "play" cuts "playlist" at its end
  CHECK(np::whole_piece_at(q, q.find("playlist"), 4, false));   // an open piece may go on
  CHECK(np::whole_piece_at(q, q.rfind("play"), 4));             // the last word but one
  CHECK(np::whole_piece_at(q, q.find(", then"), 6));            // edges that are no word characters
  CHECK(np::whole_piece_at(q, 0, 0));                           // an empty piece is whole
  CHECK(np::whole_piece_at(q, q.size() - 2, 2));                // at the text's end
  const std::string u = "caf\xC3\xA9s";                          // "cafés": "caf" cuts a UTF-8 letter
  CHECK_FALSE(np::whole_piece_at(u, 0, 3));
}

TEST_CASE("count_whole and holds_whole count whole pieces only", "[text]") {
  CHECK(np::count_whole("play it, then play it again", "play it") == 2);
  CHECK(np::count_whole("display it", "play it") == 0);
  CHECK(np::count_whole("100 and 1000", "100") == 1);
  CHECK(np::count_whole("aa aa aa", "aa aa") == 2);  // overlapping places both count
  CHECK(np::count_whole("anything", "") == 0);
  CHECK(np::count_whole("Jazz", "jazz") == 0);       // case counts: fold first
  CHECK(np::count_whole(np::ascii_lowered("Jazz"), "jazz") == 1);
  CHECK(np::holds_whole("set the mode to eco", "eco"));
  CHECK_FALSE(np::holds_whole("economy class", "eco"));
  CHECK_FALSE(np::holds_whole("anything", ""));
}

TEST_CASE("next_word and word_start walk the letter runs of folded text", "[text]") {
  const std::string q = "fly from oslo, then 2 nights";
  np::WordSpan w = np::next_word(q, 0);
  CHECK(w.of(q) == "fly");
  w = np::next_word(q, w.end);
  CHECK(w.of(q) == "from");
  w = np::next_word(q, q.find("oslo") + 2);  // a run begun before `from` counts from there
  CHECK(w.of(q) == "lo");
  w = np::next_word(q, q.find(", then"));
  CHECK(w.of(q) == "then");
  w = np::next_word(q, q.find("2"));  // digits are no letters
  CHECK(w.of(q) == "nights");
  CHECK(np::next_word(q, q.size()).empty());
  CHECK(np::next_word(q, q.size() + 5).begin == q.size());
  CHECK(np::next_word("", 0).empty());
  CHECK(np::next_word("12 ,.", 0).empty());
  CHECK(np::word_start(q, q.find(" oslo")) == q.find("from"));
  CHECK(np::word_start(q, q.find("oslo") + 4) == q.find("oslo"));
  CHECK(np::word_start(q, q.find(", then")) == q.find("oslo"));
  CHECK(np::word_start(q, q.find(" nights")) == q.find(" nights"));  // a digit before: no word
  CHECK(np::word_start(q, 0) == 0);
}

TEST_CASE("for_each_word splits identifiers and text as the lexical prior reads them", "[text]") {
  const auto words = [](std::string_view text) {
    std::vector<std::string> out;
    np::for_each_word(text, [&](const std::string& w) { out.push_back(w); });
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(words("leavingSpot") == V{"leaving", "spot"});
  CHECK(words("PlanScenicDetour") == V{"plan", "scenic", "detour"});
  CHECK(words("translate.subtitleVideoIn") == V{"translate", "subtitle", "video", "in"});
  CHECK(words("feed-pet-now") == V{"feed", "pet", "now"});
  CHECK(words("URL_to") == V{"url", "to"});          // capitals after capitals stay one word
  CHECK(words("FROM") == V{"from"});
  CHECK(words("playlist2go") == V{"playlist", "go"});  // digits end a word
  CHECK(words("Caf\xC3\xA9 Ol\xC3\xA9") == V{"caf", "ol"});  // so do UTF-8 bytes
  CHECK(words("").empty());
  CHECK(words(" 42 !").empty());
}
