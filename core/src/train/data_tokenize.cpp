// data_tokenize.cpp — Example -> TrainPair: encoder ids as the tool caller builds them,
// decoder input/targets framed by EOS and <tool_call>, per-token roles and loss weights,
// tool-list augmentation; and TrainPairs -> a padded Batch.
// Not here: parsing lines (dataset.cpp), reading files (data_reader.cpp).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "np/dataset.h"
#include "train/data_internal.h"
#include "util/rng.h"

namespace np {

using data_detail::json;

// The one definition of the encoder layout; ToolCaller::build_encoder_input calls it.
std::vector<int32_t> build_encoder_ids(const Tokenizer& tokenizer, const ModelConfig& config,
                                       std::string_view query, const std::string& tools_json,
                                       bool* truncated, int32_t* block_prefix, const std::vector<int32_t>* tools_ids) {
  const size_t L = static_cast<size_t>(config.max_enc_len);
  *truncated = false;
  std::vector<int32_t> q = tokenizer.encode(query);
  if (q.size() > L - 2) {
    q.resize(L - 2);
    *truncated = true;
  }
  std::vector<int32_t> t = tools_ids ? *tools_ids : tokenizer.encode(tools_json);
  const size_t room = L - 1 - q.size();
  if (t.size() > room) {
    t.resize(room);
    *truncated = true;
  }
  std::vector<int32_t> ids;
  ids.reserve(q.size() + 1 + t.size());
  if (config.catalog_mask()) {  // [<tools> tools...][query...]
    ids.push_back(config.tools_id);
    ids.insert(ids.end(), t.begin(), t.end());
    if (block_prefix) *block_prefix = static_cast<int32_t>(ids.size());
    ids.insert(ids.end(), q.begin(), q.end());
  } else {  // [query...][<tools>][tools...]
    ids = std::move(q);
    ids.push_back(config.tools_id);
    ids.insert(ids.end(), t.begin(), t.end());
    if (block_prefix) *block_prefix = 0;
  }
  return ids;
}

// ---- token roles -------------------------------------------------------------------------

namespace {

bool is_lower_one_eighth_block(std::string_view text, size_t at) {  // U+2581, E2 96 81
  return at + 3 <= text.size() && text.compare(at, 3, "\xE2\x96\x81") == 0;
}

int role_priority(TokenRole r) {  // tie-break between equal weights
  switch (r) {
    case TokenRole::kValue: return 3;
    case TokenRole::kName: return 2;
    case TokenRole::kKey: return 1;
    case TokenRole::kStructure: break;
  }
  return 0;
}

}  // namespace

// The tokens' texts spell the normalised answer: a leading dummy-prefix space, runs of
// spaces collapsed, a literal U+2581 shown as a space. Normalisation only adds, removes or
// rewrites spaces, so every non-space byte of a token is the next non-space byte of `text`;
// spaces are consumed when the text has one there. An unknown token (no byte fallback)
// covers everything up to where the next token's first non-space byte matches.
Status answer_token_roles(const Tokenizer& tokenizer, std::string_view text,
                          const std::vector<TokenRole>& byte_roles,
                          const std::vector<int32_t>& ids, const RoleWeights& weights,
                          std::vector<TokenRole>* roles) {
  roles->assign(ids.size(), TokenRole::kStructure);
  if (byte_roles.size() != text.size())
    return Status(Code::kInvalidInput, "answer_token_roles: " + std::to_string(byte_roles.size()) +
                                           " roles for " + std::to_string(text.size()) + " bytes");
  const size_t n = text.size();
  std::vector<size_t> begin(ids.size(), 0), end(ids.size(), 0);
  size_t p = 0;
  long pending_unk = -1;
  auto misaligned = [&](size_t i) {
    return Status(Code::kInternal, "answer tokens do not spell the answer text: token " + std::to_string(i) +
                                       " (id " + std::to_string(ids[i]) + ") at byte " + std::to_string(p) +
                                       " of " + data_detail::quote(text));
  };
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= tokenizer.vocab_size())
      return Status(Code::kInvalidInput, "answer_token_roles: token id " + std::to_string(id) + " out of range");
    begin[i] = end[i] = p;
    if (tokenizer.type(id) == TokenType::kUnknown) {
      pending_unk = static_cast<long>(i);
      continue;
    }
    bool first = true;
    for (char b : tokenizer.token_text(id)) {
      if (b == ' ') {
        if (p < n && text[p] == ' ') {
          ++p;
        } else if (is_lower_one_eighth_block(text, p)) {
          p += 3;
        }  // else the dummy prefix: it covers nothing
        continue;
      }
      while (p < n && text[p] == ' ') ++p;  // spaces the normaliser collapsed
      if (first && pending_unk >= 0) {
        size_t q = p + 1;  // the unknown token covers at least one character
        while (q < n && (static_cast<unsigned char>(text[q]) & 0xc0) == 0x80) ++q;
        while (q < n && text[q] != b) ++q;
        end[static_cast<size_t>(pending_unk)] = q;
        pending_unk = -1;
        p = begin[i] = q;
      }
      first = false;
      if (p >= n || text[p] != b) return misaligned(i);
      ++p;
    }
    end[i] = p;
  }
  if (pending_unk >= 0) {
    end[static_cast<size_t>(pending_unk)] = n;
    p = n;
  }
  while (p < n && text[p] == ' ') ++p;
  if (p != n) return misaligned(ids.empty() ? 0 : ids.size() - 1);

  for (size_t i = 0; i < ids.size(); ++i) {
    TokenRole best = TokenRole::kStructure;
    bool any = false;
    for (size_t k = begin[i]; k < end[i]; ++k) {
      const TokenRole r = byte_roles[k];
      const float wr = weights.of(r), wb = weights.of(best);
      if (!any || wr > wb || (wr == wb && role_priority(r) > role_priority(best))) best = r;
      any = true;
    }
    (*roles)[i] = best;
  }
  return Status::Ok();
}

// ---- augmentation ------------------------------------------------------------------------

namespace {

template <class T>
void shuffle_vector(std::vector<T>* v, Rng* rng) {
  for (size_t i = v->size(); i > 1; --i) std::swap((*v)[i - 1], (*v)[rng->below(i)]);
}

// The object's members in a random order.
json shuffle_keys(const json& obj, Rng* rng) {
  std::vector<std::pair<std::string, json>> items;
  for (auto it = obj.begin(); it != obj.end(); ++it) items.emplace_back(it.key(), it.value());
  shuffle_vector(&items, rng);
  json out = json::object();
  for (auto& kv : items) out[kv.first] = std::move(kv.second);
  return out;
}

json* present_member(json& obj, const char* key) {
  auto it = obj.find(key);
  return (it == obj.end() || it->is_null()) ? nullptr : &*it;
}

// Parameters are located as parse_tools locates them (docs/tools.md, "Accepted shapes").
void shuffle_parameters(json* tool, const AugmentOptions& o, Rng* rng) {
  json* body = tool;
  if (json* f = present_member(*tool, "function"); f && f->is_object()) body = f;
  json* params = present_member(*body, "parameters");
  if (!params) params = present_member(*body, "input_schema");
  if (!params || !params->is_object()) return;
  const json* type = present_member(*params, "type");
  if (type && type->is_string() && type->get_ref<const std::string&>() == "object") {  // JSON-Schema
    if (json* props = present_member(*params, "properties"); props && props->is_object() && o.shuffle_params)
      *props = shuffle_keys(*props, rng);
    return;
  }
  if (o.shuffle_params) *params = shuffle_keys(*params, rng);  // flat
  if (o.shuffle_param_keys)
    for (auto it = params->begin(); it != params->end(); ++it)
      if (it->is_object()) *it = shuffle_keys(*it, rng);
}

}  // namespace

json augment_tools(const json& tools, const AugmentOptions& options, uint64_t seed) {
  if (!tools.is_array()) return tools;
  Rng rng(seed);
  std::vector<json> items(tools.begin(), tools.end());
  if (options.shuffle_tools) shuffle_vector(&items, &rng);
  for (json& t : items) {
    if (!t.is_object()) continue;
    if (options.shuffle_params || options.shuffle_param_keys) shuffle_parameters(&t, options, &rng);
    if (options.shuffle_tool_keys) {
      if (json* f = present_member(t, "function"); f && f->is_object()) *f = shuffle_keys(*f, &rng);
      t = shuffle_keys(t, &rng);
    }
  }
  json out = json::array();
  for (json& t : items) out.push_back(std::move(t));
  return out;
}

namespace {

// Lower-case ASCII words of 3 to 10 letters from a text (the pool new names are made from).
void collect_words(const std::string& text, std::vector<std::string>* out) {
  std::string w;
  for (size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ' ';
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      w += static_cast<char>(c | 0x20);
      continue;
    }
    if (w.size() >= 3 && w.size() <= 10) out->push_back(w);
    w.clear();
  }
}

}  // namespace

bool rename_tools_and_calls(std::string* tools_json, std::vector<AnswerCall>* calls, const AugmentOptions& options,
                            uint64_t seed) {
  json tools = json::parse(*tools_json, nullptr, false);
  if (!tools.is_array()) return false;
  Rng rng(seed);
  auto chance = [&](double p) { return p > 0 && static_cast<double>(rng.next_u64() >> 11) * 0x1.0p-53 < p; };
  auto pick = [&](const std::vector<std::string>& v) { return v[rng.next_u64() % v.size()]; };
  std::vector<std::string> pool;
  for (const json& t : tools) {
    if (!t.is_object()) continue;
    if (t.contains("description") && t["description"].is_string()) collect_words(t["description"].get<std::string>(), &pool);
    if (t.contains("parameters") && t["parameters"].is_object())
      for (auto it = t["parameters"].begin(); it != t["parameters"].end(); ++it)
        if (it->is_object() && it->contains("description") && (*it)["description"].is_string())
          collect_words((*it)["description"].get<std::string>(), &pool);
  }
  if (pool.size() < 4) return false;
  std::vector<std::string> taken;
  for (const json& t : tools)
    if (t.is_object() && t.contains("name") && t["name"].is_string()) taken.push_back(t["name"].get<std::string>());
  auto fresh = [&](int words, const std::vector<std::string>& used, bool camel) {
    for (int attempt = 0; attempt < 20; ++attempt) {
      std::string name;
      for (int i = 0; i < words; ++i) {
        std::string w = pick(pool);
        if (camel && i > 0) w[0] = static_cast<char>(w[0] - 32);
        name += (i && !camel ? "_" : "") + w;
      }
      if (std::find(used.begin(), used.end(), name) == used.end()) return name;
    }
    return std::string();
  };
  // Tool renames (snake_case: what the model sees and writes) and, per tool, parameter renames.
  std::vector<std::pair<std::string, std::string>> tool_map;
  std::vector<std::vector<std::pair<std::string, std::string>>> param_maps(tools.size());
  for (size_t i = 0; i < tools.size(); ++i) {
    json& t = tools[i];
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) continue;
    const std::string old_name = t["name"].get<std::string>();
    if (chance(options.rename_tools)) {
      const std::string name = fresh(2 + static_cast<int>(rng.next_u64() % 2), taken, false);
      if (!name.empty()) {
        taken.push_back(name);
        tool_map.emplace_back(old_name, name);
        t["name"] = name;
      }
    }
    if (!t.contains("parameters") || !t["parameters"].is_object() || options.rename_params <= 0) continue;
    json renamed = json::object();
    std::vector<std::string> keys;
    for (auto it = t["parameters"].begin(); it != t["parameters"].end(); ++it) keys.push_back(it.key());
    std::vector<std::string> used = keys;
    for (auto it = t["parameters"].begin(); it != t["parameters"].end(); ++it) {
      std::string key = it.key();
      if (chance(options.rename_params)) {
        const std::string k = fresh(1 + static_cast<int>(rng.next_u64() % 2), used, rng.next_u64() % 2 == 0);
        if (!k.empty()) {
          used.push_back(k);
          param_maps[i].emplace_back(key, k);
          key = k;
        }
      }
      renamed[key] = it.value();
    }
    t["parameters"] = std::move(renamed);
  }
  // The answer: the same renames.
  std::vector<AnswerCall> out = *calls;
  for (AnswerCall& c : out) {
    size_t ti = tools.size();
    for (size_t i = 0; i < tools.size(); ++i) {
      const std::string now = tools[i].is_object() && tools[i].contains("name") ? tools[i]["name"].get<std::string>() : "";
      std::string was = now;
      for (const auto& m : tool_map)
        if (m.second == now) was = m.first;
      if (was == c.name) { ti = i; break; }
    }
    if (ti == tools.size()) return false;
    c.name = tools[ti]["name"].get<std::string>();
    c.original_name = c.name;
    json args = json::object();
    for (auto it = c.arguments.begin(); it != c.arguments.end(); ++it) {
      std::string key = it.key();
      for (const auto& m : param_maps[ti])
        if (m.first == key) key = m.second;
      args[key] = it.value();
    }
    c.arguments = std::move(args);
  }
  *tools_json = json_dumps_compact(tools);
  *calls = std::move(out);
  return true;
}

// ---- pairs and batches -------------------------------------------------------------------

Status make_train_pair(const Tokenizer& tokenizer, const ModelConfig& config,
                       const PairOptions& options, const Example& example,
                       uint64_t augment_seed, TrainPair* out) {
  *out = TrainPair();
  out->line = example.line;
  out->epoch = example.epoch;
  const std::string at = "line " + std::to_string(example.line) + ": ";

  // Tools the encoder sees (augmented: permuted, maybe renamed) and the answer to match.
  std::vector<AnswerCall> answers = example.answers;
  std::string query = example.query;
  if (options.augment.enabled) {
    const json tools = augment_tools(example.tools, options.augment, augment_seed);
    auto set = parse_tools(json_dumps_compact(tools));
    if (!set.ok()) return Status(Code::kInternal, at + "augmented tools do not parse: " + set.status().message());
    out->tools_json = std::move(set.value().normalized_json);
    if (options.augment.rename_tools > 0 || options.augment.rename_params > 0)
      rename_tools_and_calls(&out->tools_json, &answers, options.augment, augment_seed ^ 0x5bd1e9955bd1e995ull);
    if (options.augment.swap_words > 0)
      swap_shared_words(&query, &out->tools_json, &answers, swap_word_pool(tokenizer), options.augment,
                        augment_seed ^ 0x2545f4914f6cdd1dull);
  } else {
    out->tools_json = example.toolset.normalized_json;
  }

  std::vector<TokenRole> byte_roles;
  out->answer = answer_text(answers, &byte_roles);
  const std::vector<int32_t> answer_ids = tokenizer.encode(out->answer);
  out->target_len = static_cast<int32_t>(answer_ids.size()) + 2;
  if (out->target_len > config.max_dec_len) {
    out->fits = false;
    return Status::Ok();
  }

  out->enc_ids = build_encoder_ids(tokenizer, config, query, out->tools_json, &out->enc_truncated,
                                   &out->enc_prefix);

  std::vector<TokenRole> roles;
  Status st = answer_token_roles(tokenizer, out->answer, byte_roles, answer_ids, options.weights, &roles);
  if (!st.ok()) return Status(st.code(), at + st.message());

  const size_t T = answer_ids.size() + 2;
  out->dec_in.reserve(T);
  out->dec_in.push_back(config.eos_id);
  out->dec_in.push_back(config.tool_call_id);
  out->dec_in.insert(out->dec_in.end(), answer_ids.begin(), answer_ids.end());
  out->targets.reserve(T);
  out->targets.push_back(config.tool_call_id);
  out->targets.insert(out->targets.end(), answer_ids.begin(), answer_ids.end());
  out->targets.push_back(config.eos_id);
  out->roles.reserve(T);
  out->roles.push_back(TokenRole::kStructure);
  out->roles.insert(out->roles.end(), roles.begin(), roles.end());
  out->roles.push_back(TokenRole::kStructure);
  out->weights.reserve(T);
  for (TokenRole r : out->roles) out->weights.push_back(options.weights.of(r));
  return Status::Ok();
}

Batch make_batch(const std::vector<const TrainPair*>& rows, int32_t pad_id) {
  Batch b;
  b.B = static_cast<int32_t>(rows.size());
  for (const TrainPair* p : rows) {
    b.Te = std::max(b.Te, static_cast<int32_t>(p->enc_ids.size()));
    b.Td = std::max(b.Td, static_cast<int32_t>(p->targets.size()));
  }
  const size_t ne = static_cast<size_t>(b.B) * static_cast<size_t>(b.Te);
  const size_t nd = static_cast<size_t>(b.B) * static_cast<size_t>(b.Td);
  b.enc_ids.assign(ne, pad_id);
  b.enc_valid.assign(ne, 0);
  b.dec_in.assign(nd, pad_id);
  b.targets.assign(nd, -1);
  b.weights.assign(nd, 0.0f);
  for (size_t r = 0; r < rows.size(); ++r) {
    const TrainPair& p = *rows[r];
    const size_t e0 = r * static_cast<size_t>(b.Te), d0 = r * static_cast<size_t>(b.Td);
    std::copy(p.enc_ids.begin(), p.enc_ids.end(), b.enc_ids.begin() + static_cast<std::ptrdiff_t>(e0));
    std::fill_n(b.enc_valid.begin() + static_cast<std::ptrdiff_t>(e0), p.enc_ids.size(), uint8_t{1});
    std::copy(p.dec_in.begin(), p.dec_in.end(), b.dec_in.begin() + static_cast<std::ptrdiff_t>(d0));
    std::copy(p.targets.begin(), p.targets.end(), b.targets.begin() + static_cast<std::ptrdiff_t>(d0));
    std::copy(p.weights.begin(), p.weights.end(), b.weights.begin() + static_cast<std::ptrdiff_t>(d0));
    b.enc_len.push_back(static_cast<int32_t>(p.enc_ids.size()));
    b.enc_prefix.push_back(p.enc_prefix);
    b.dec_len.push_back(static_cast<int32_t>(p.targets.size()));
    b.lines.push_back(p.line);
    b.enc_tokens += static_cast<int64_t>(p.enc_ids.size());
    b.dec_tokens += static_cast<int64_t>(p.targets.size());
    for (float w : p.weights) b.weight_sum += w;
  }
  return b;
}

}  // namespace np
