// data_reader.cpp — streaming examples from a JSONL file: a buffered line reader with a
// bounded line length, shuffle windows, epochs, the saved position and its JSON form.
// Memory: one read buffer, one line of at most max_line_bytes, and shuffle_window lines.
// Not here: validation of a line (dataset.cpp), tokenization and batches (data_*.cpp).
#include <sys/types.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "np/dataset.h"
#include "train/data_internal.h"
#include "util/rng.h"

namespace np {
namespace {

using data_detail::json;
using data_detail::mix_seed;

// Lines of a file from any byte offset: "\n" ends a line, a "\r" before it is dropped, a
// last line without "\n" still counts. A line longer than the limit is reported as
// too_long (its text is not kept) and the reader moves to the next one.
class LineReader {
 public:
  LineReader() = default;
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  ~LineReader() {
    if (f_) std::fclose(f_);
  }

  Status open(const std::string& path) {
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) return Status(Code::kIoError, "cannot open " + path + ": " + std::strerror(errno));
    path_ = path;
    if (fseeko(f_, 0, SEEK_END) != 0) return io_error("seek");
    const off_t end = ftello(f_);
    if (end < 0) return io_error("tell");
    size_ = static_cast<uint64_t>(end);
    return seek(0, 1);
  }

  Status seek(uint64_t offset, int64_t line) {
    if (offset > size_) return Status(Code::kInvalidInput, "offset " + std::to_string(offset) + " is past the end of " + path_);
    if (fseeko(f_, static_cast<off_t>(offset), SEEK_SET) != 0) return io_error("seek");
    pos_ = offset;
    line_ = line;
    buf_pos_ = buf_len_ = 0;
    return Status::Ok();
  }

  // Whether the byte before `offset` is "\n" (or offset is 0): a line starts there.
  // Moves the read position; seek() afterwards.
  Status starts_line(uint64_t offset, bool* yes) {
    *yes = offset == 0;
    if (offset == 0) return Status::Ok();
    if (offset > size_) return Status::Ok();
    if (fseeko(f_, static_cast<off_t>(offset - 1), SEEK_SET) != 0) return io_error("seek");
    const int c = std::fgetc(f_);
    if (c == EOF) return io_error("read");
    *yes = c == '\n';
    buf_pos_ = buf_len_ = 0;
    return Status::Ok();
  }

  // *got = false at the end of the file.
  Status next(size_t max_bytes, std::string* text, bool* too_long, uint64_t* offset, int64_t* line, bool* got) {
    text->clear();
    *too_long = false;
    *got = false;
    *offset = pos_;
    *line = line_;
    for (;;) {
      if (buf_pos_ == buf_len_) {
        buf_len_ = std::fread(buf_, 1, sizeof buf_, f_);
        buf_pos_ = 0;
        if (buf_len_ == 0) {
          if (std::ferror(f_)) return io_error("read");
          break;  // end of file
        }
      }
      const char* start = buf_ + buf_pos_;
      const size_t avail = buf_len_ - buf_pos_;
      const char* nl = static_cast<const char*>(std::memchr(start, '\n', avail));
      const size_t seg = nl ? static_cast<size_t>(nl - start) : avail;
      *got = true;
      if (!*too_long) {
        if (text->size() + seg > max_bytes) {
          *too_long = true;
          std::string().swap(*text);
        } else {
          text->append(start, seg);
        }
      }
      buf_pos_ += seg;
      pos_ += seg;
      if (nl) {
        ++buf_pos_;
        ++pos_;
        break;
      }
    }
    if (*got) ++line_;
    if (!text->empty() && text->back() == '\r') text->pop_back();
    return Status::Ok();
  }

  uint64_t pos() const { return pos_; }
  int64_t line() const { return line_; }
  uint64_t size() const { return size_; }

 private:
  Status io_error(const char* what) {
    return Status(Code::kIoError, std::string(what) + " failed on " + path_ + ": " + std::strerror(errno));
  }
  std::FILE* f_ = nullptr;
  std::string path_;
  uint64_t size_ = 0;
  uint64_t pos_ = 0;   // offset of the next byte next() returns
  int64_t line_ = 1;   // number of the line starting at pos_ (when pos_ starts one)
  char buf_[1 << 16];
  size_t buf_pos_ = 0, buf_len_ = 0;
};

bool is_blank(const std::string& s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r') return false;
  return true;
}

uint64_t reader_fingerprint(const ReaderOptions& o) {
  uint64_t h = mix_seed(o.seed, data_detail::kSeedFingerprint, o.shuffle ? 1 : 0, o.shuffle_window);
  h = mix_seed(h, data_detail::kSeedFingerprint, o.max_line_bytes, o.check_argument_keys ? 1 : 0);
  if (o.split == ReaderOptions::Split::kAll) return h;
  return mix_seed(h, data_detail::kSeedFingerprint, static_cast<uint64_t>(o.split),
                  static_cast<uint64_t>(o.holdout_fraction * 1e9));
}

// Whether a line is read under the options' split.
bool on_this_side(const ReaderOptions& o, const std::string& text) {
  if (o.split == ReaderOptions::Split::kAll) return true;
  const bool holdout = holdout_bucket(text) < o.holdout_fraction;
  return holdout == (o.split == ReaderOptions::Split::kHoldout);
}

}  // namespace

// ---- ExampleReader -----------------------------------------------------------------------

struct ExampleReader::Impl {
  struct Entry {
    uint64_t offset = 0;
    int64_t line = 0;
    bool too_long = false;
    std::string text;
  };

  std::string path;
  ReaderOptions opt;
  uint64_t fingerprint = 0;
  LineReader lines;

  int32_t epoch = 0;
  std::vector<Entry> window;  // the current shuffle window, in hand-out order
  size_t taken = 0;           // entries of `window` handed out
  uint64_t window_offset = 0;
  int64_t window_line = 1;
  bool ended = false;
  bool pass_from_start = true;  // this pass was read from byte 0 (not resumed midway)
  int64_t pass_examples = 0;    // valid examples handed out in this pass
  DataReport report;
  size_t window_bytes = 0, peak_window_bytes = 0;

  // Reads the next window (starting a new pass at the end of the file). *end when the
  // last pass is over.
  Status fill(bool* end) {
    *end = false;
    for (;;) {
      window.clear();
      window_bytes = 0;
      taken = 0;
      window_offset = lines.pos();
      window_line = lines.line();
      while (window.size() < opt.shuffle_window) {
        Entry e;
        bool got = false;
        NP_RETURN_IF_ERROR(lines.next(opt.max_line_bytes, &e.text, &e.too_long, &e.offset, &e.line, &got));
        if (!got) break;
        if (!e.too_long && is_blank(e.text)) continue;
        if (!on_this_side(opt, e.text)) continue;
        window_bytes += e.text.size();
        window.push_back(std::move(e));
      }
      peak_window_bytes = std::max(peak_window_bytes, window_bytes);
      if (!window.empty()) {
        if (opt.shuffle) {
          Rng rng(mix_seed(opt.seed, data_detail::kSeedWindow, static_cast<uint64_t>(epoch), window_offset));
          for (size_t i = window.size(); i > 1; --i) std::swap(window[i - 1], window[rng.below(i)]);
        }
        return Status::Ok();
      }
      // End of the file: the pass is over.
      if (pass_from_start && pass_examples == 0)
        return Status(Code::kInvalidInput, path + ": a whole pass over the file gave no valid example");
      ++epoch;
      report.epoch = epoch;
      if (opt.epochs > 0 && epoch >= opt.epochs) {
        set_ended();
        *end = true;
        return Status::Ok();
      }
      NP_RETURN_IF_ERROR(lines.seek(0, 1));
      pass_from_start = true;
      pass_examples = 0;
    }
  }

  void set_ended() {
    ended = true;
    window.clear();
    window_bytes = 0;
    taken = 0;
    window_offset = 0;
    window_line = 1;
  }

  Status next(Example* out, bool* end) {
    *end = false;
    if (ended) {
      *end = true;
      return Status::Ok();
    }
    for (;;) {
      if (taken == window.size()) {
        NP_RETURN_IF_ERROR(fill(end));
        if (*end) return Status::Ok();
      }
      Entry& e = window[taken++];
      Status st;
      if (e.too_long) {
        st = Status(Code::kInvalidInput, "line " + std::to_string(e.line) + ": longer than " +
                                             std::to_string(opt.max_line_bytes) + " bytes");
      } else {
        st = parse_example(e.text, e.line, opt.check_argument_keys, out);
      }
      window_bytes -= e.text.size();
      std::string().swap(e.text);
      const bool first_pass = epoch == 0;
      if (first_pass) ++report.lines;
      if (st.ok()) {
        out->offset = e.offset;
        out->epoch = epoch;
        if (first_pass) ++report.examples;
        ++report.examples_out;
        ++pass_examples;
        return Status::Ok();
      }
      if (first_pass) {
        ++report.bad_lines;
        if (report.errors.size() < opt.max_errors) report.errors.push_back(st.message());
      }
      if (opt.policy == BadLinePolicy::kStop) return st;
    }
  }

  DataPosition position() const {
    DataPosition p;
    p.reader_fingerprint = fingerprint;
    p.file_bytes = lines.size();
    p.epoch = epoch;
    p.window_offset = window_offset;
    p.window_line = window_line;
    p.window_taken = taken;
    p.report = report;
    p.report.errors.clear();
    return p;
  }

  Status restore(const DataPosition& pos) {
    auto refuse = [](const std::string& why) { return Status(Code::kInvalidInput, "cannot restore the data position: " + why); };
    if (pos.reader_fingerprint != fingerprint)
      return refuse("it was saved with other reader options (seed, shuffle, window, line limit or key check)");
    if (pos.file_bytes != lines.size())
      return refuse("the file has " + std::to_string(lines.size()) + " bytes, the position was saved with " +
                    std::to_string(pos.file_bytes));
    if (pos.epoch < 0 || pos.window_line < 1) return refuse("negative epoch or line");
    bool at_line_start = false;
    NP_RETURN_IF_ERROR(lines.starts_line(pos.window_offset, &at_line_start));
    if (!at_line_start) return refuse("offset " + std::to_string(pos.window_offset) + " is not the start of a line");

    report = pos.report;
    report.errors.clear();
    epoch = pos.epoch;
    report.epoch = epoch;
    ended = false;
    window.clear();
    window_bytes = 0;
    taken = 0;
    if (opt.epochs > 0 && epoch >= opt.epochs) {
      set_ended();
      return Status::Ok();
    }
    NP_RETURN_IF_ERROR(lines.seek(pos.window_offset, pos.window_line));
    window_offset = pos.window_offset;
    window_line = pos.window_line;
    pass_from_start = pos.window_offset == 0 && pos.window_taken == 0;
    pass_examples = 0;
    if (pos.window_taken == 0) return Status::Ok();  // next() reads the window from here
    bool end = false;
    NP_RETURN_IF_ERROR(fill(&end));
    if (end || window_offset != pos.window_offset || window.size() < pos.window_taken)
      return refuse("the window at offset " + std::to_string(pos.window_offset) + " does not hold " +
                    std::to_string(pos.window_taken) + " lines");
    for (size_t i = 0; i < pos.window_taken; ++i) {  // handed out before: skip, unparsed
      window_bytes -= window[i].text.size();
      std::string().swap(window[i].text);
    }
    taken = static_cast<size_t>(pos.window_taken);
    return Status::Ok();
  }
};

ExampleReader::ExampleReader() : impl_(new Impl) {}
ExampleReader::~ExampleReader() = default;

Result<std::unique_ptr<ExampleReader>> ExampleReader::open(const std::string& path, const ReaderOptions& options) {
  if (options.max_line_bytes < 1) return Status(Code::kInvalidInput, "max_line_bytes must be at least 1");
  if (options.shuffle_window < 1) return Status(Code::kInvalidInput, "shuffle_window must be at least 1");
  if (options.epochs < 0) return Status(Code::kInvalidInput, "epochs must be >= 0 (0 = forever)");
  if (!(options.holdout_fraction >= 0.0 && options.holdout_fraction <= 1.0))
    return Status(Code::kInvalidInput, "holdout_fraction must be in [0, 1]");
  std::unique_ptr<ExampleReader> r(new ExampleReader());
  r->impl_->path = path;
  r->impl_->opt = options;
  r->impl_->fingerprint = reader_fingerprint(options);
  NP_RETURN_IF_ERROR(r->impl_->lines.open(path));
  return r;
}

Status ExampleReader::next(Example* out, bool* end) { return impl_->next(out, end); }
DataPosition ExampleReader::position() const { return impl_->position(); }
Status ExampleReader::restore(const DataPosition& position) { return impl_->restore(position); }
const DataReport& ExampleReader::report() const { return impl_->report; }
size_t ExampleReader::window_bytes() const { return impl_->window_bytes; }
size_t ExampleReader::peak_window_bytes() const { return impl_->peak_window_bytes; }
uint64_t ExampleReader::file_bytes() const { return impl_->lines.size(); }

double holdout_bucket(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : line) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  h ^= h >> 29;  // FNV's low bits mix poorly into the top ones for short inputs
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);
}

Result<std::vector<Example>> read_examples(const std::string& path, ReaderOptions options, DataReport* report) {
  options.shuffle = false;
  options.epochs = 1;
  auto reader = ExampleReader::open(path, options);
  if (!reader.ok()) return reader.status();
  std::vector<Example> out;
  for (;;) {
    Example ex;
    bool end = false;
    Status st = reader.value()->next(&ex, &end);
    if (report) *report = reader.value()->report();
    if (!st.ok()) return st;
    if (end) break;
    out.push_back(std::move(ex));
  }
  return out;
}

// ---- DataPosition as JSON ----------------------------------------------------------------

std::string DataPosition::to_json() const {
  json r = json::object();
  r["lines"] = report.lines;
  r["examples"] = report.examples;
  r["bad_lines"] = report.bad_lines;
  r["dropped_too_long"] = report.dropped_too_long;
  r["truncated_inputs"] = report.truncated_inputs;
  r["epoch"] = report.epoch;
  r["examples_out"] = report.examples_out;
  r["batches_out"] = report.batches_out;
  json j = json::object();
  j["format"] = "needlepoint.data_position.v1";
  j["reader_fingerprint"] = reader_fingerprint;
  j["loader_fingerprint"] = loader_fingerprint;
  j["file_bytes"] = file_bytes;
  j["epoch"] = epoch;
  j["window_offset"] = window_offset;
  j["window_line"] = window_line;
  j["window_taken"] = window_taken;
  j["batches_taken"] = batches_taken;
  j["report"] = std::move(r);
  return j.dump();
}

namespace {

// A non-negative integer member (a JSON integer, not a float).
bool get_count(const json& obj, const char* key, uint64_t* out, std::string* error) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    *error = std::string("missing \"") + key + "\"";
    return false;
  }
  if (it->is_number_unsigned()) {
    *out = it->get<uint64_t>();
    return true;
  }
  if (it->is_number_integer() && it->get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(it->get<int64_t>());
    return true;
  }
  *error = std::string("\"") + key + "\" must be a non-negative integer";
  return false;
}

bool get_count(const json& obj, const char* key, int64_t* out, std::string* error) {
  uint64_t v = 0;
  if (!get_count(obj, key, &v, error)) return false;
  if (v > static_cast<uint64_t>(INT64_MAX)) {
    *error = std::string("\"") + key + "\" is too large";
    return false;
  }
  *out = static_cast<int64_t>(v);
  return true;
}

bool get_count(const json& obj, const char* key, int32_t* out, std::string* error) {
  int64_t v = 0;
  if (!get_count(obj, key, &v, error)) return false;
  if (v > INT32_MAX) {
    *error = std::string("\"") + key + "\" is too large";
    return false;
  }
  *out = static_cast<int32_t>(v);
  return true;
}

}  // namespace

Result<DataPosition> DataPosition::from_json(std::string_view text) {
  auto bad = [](const std::string& m) { return Status(Code::kInvalidInput, "data position: " + m); };
  json j;
  std::string err;
  if (!data_detail::parse_json_bounded(text, 4, &j, &err)) return bad("not valid JSON: " + err);
  if (!j.is_object()) return bad("must be a JSON object");
  auto fmt = j.find("format");
  if (fmt == j.end() || !fmt->is_string() || fmt->get<std::string>() != "needlepoint.data_position.v1")
    return bad("\"format\" must be \"needlepoint.data_position.v1\"");
  DataPosition p;
  const bool ok = get_count(j, "reader_fingerprint", &p.reader_fingerprint, &err) &&
                  get_count(j, "loader_fingerprint", &p.loader_fingerprint, &err) &&
                  get_count(j, "file_bytes", &p.file_bytes, &err) && get_count(j, "epoch", &p.epoch, &err) &&
                  get_count(j, "window_offset", &p.window_offset, &err) &&
                  get_count(j, "window_line", &p.window_line, &err) &&
                  get_count(j, "window_taken", &p.window_taken, &err) &&
                  get_count(j, "batches_taken", &p.batches_taken, &err);
  if (!ok) return bad(err);
  auto r = j.find("report");
  if (r == j.end() || !r->is_object()) return bad("missing \"report\" object");
  DataReport& c = p.report;
  const bool rok = get_count(*r, "lines", &c.lines, &err) && get_count(*r, "examples", &c.examples, &err) &&
                   get_count(*r, "bad_lines", &c.bad_lines, &err) &&
                   get_count(*r, "dropped_too_long", &c.dropped_too_long, &err) &&
                   get_count(*r, "truncated_inputs", &c.truncated_inputs, &err) &&
                   get_count(*r, "epoch", &c.epoch, &err) && get_count(*r, "examples_out", &c.examples_out, &err) &&
                   get_count(*r, "batches_out", &c.batches_out, &err);
  if (!rok) return bad("report: " + err);
  if (p.window_line < 1) return bad("\"window_line\" must be at least 1");
  return p;
}

}  // namespace np
