// test_catalog.cpp — the catalog encoder mask (docs/engine.md, "Catalog mask"): the input
// layout, the two-part encoder (block once, then the query) against the one-pass masked
// encoder, the block's independence from the query, the trainer's masked forward against
// inference, the cache of encoded blocks, and ToolCaller's use of it.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "np/catalog_cache.h"
#include "np/dataset.h"
#include "np/gguf.h"
#include "np/tool_caller.h"
#include "np/trainer.h"
#include "test_util.h"

namespace {

np::ModelConfig catalog_config() {
  np::ModelConfig c = np::ModelConfig::small();
  c.encoder_mask = "catalog";
  return c;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

std::vector<int32_t> ids_of(int n, int32_t first, int vocab) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(6 + (first + 37 * i) % (vocab - 6));
  return v;
}

const char* kTools =
    R"([{"name":"get_weather","description":"Weather for a city.","parameters":{"city":{"type":"string","description":"City.","required":true}}},)"
    R"({"name":"set_timer","description":"Start a timer.","parameters":{"minutes":{"type":"integer","description":"Minutes.","required":true}}}])";

}  // namespace

TEST_CASE("catalog layout: the tool block first, then the query; the bidirectional layout unchanged",
          "[catalog]") {
  auto model = np_test::random_model(5, catalog_config());
  const np::ModelConfig& c = model->config();
  const np::Tokenizer& tok = model->tokenizer();
  const std::string tools = "[{\"name\":\"a\"}]";
  const std::vector<int32_t> q = tok.encode("turn it up"), t = tok.encode(tools);
  bool truncated = true;
  int32_t prefix = -1;
  const auto ids = np::build_encoder_ids(tok, c, "turn it up", tools, &truncated, &prefix);
  CHECK_FALSE(truncated);
  REQUIRE(prefix == static_cast<int32_t>(1 + t.size()));
  CHECK(ids[0] == c.tools_id);
  CHECK(std::vector<int32_t>(ids.begin() + 1, ids.begin() + prefix) == t);
  CHECK(std::vector<int32_t>(ids.begin() + prefix, ids.end()) == q);

  np::ModelConfig bc = c;
  bc.encoder_mask = "bidirectional";
  const auto bids = np::build_encoder_ids(tok, bc, "turn it up", tools, &truncated, &prefix);
  CHECK(prefix == 0);
  REQUIRE(bids.size() == ids.size());
  CHECK(std::vector<int32_t>(bids.begin(), bids.begin() + q.size()) == q);
  CHECK(bids[q.size()] == c.tools_id);

  // Same budget as Needle's layout: the query keeps max_enc_len - 2 tokens, the tools fill the rest.
  std::string long_query;
  for (int i = 0; i < 400; ++i) long_query += "word ";
  const auto lids = np::build_encoder_ids(tok, c, long_query, tools, &truncated, &prefix);
  CHECK(truncated);
  CHECK(static_cast<int>(lids.size()) == c.max_enc_len);
  CHECK(prefix == 2);  // <tools> and the one tool token that still fits
}

TEST_CASE("catalog encoder: block + query in two parts equals the one masked pass; the block ignores the query",
          "[catalog]") {
  auto model = np_test::random_model(7, catalog_config());
  const np::ModelConfig& c = model->config();
  for (int P : {1, 5, 23}) {
    for (int R : {1, 4, 17, 70}) {
      INFO("block " << P << ", query " << R);
      std::vector<int32_t> block = ids_of(P, 3, c.vocab_size), rest = ids_of(R, 11, c.vocab_size);
      block[0] = c.tools_id;
      std::vector<int32_t> all(block);
      all.insert(all.end(), rest.begin(), rest.end());
      np::EncoderOutput one, two;
      REQUIRE(model->encode(all, &one, P).ok());
      np::EncoderBlock b;
      REQUIRE(model->encode_block(block, &b).ok());
      CHECK(b.T == P);
      CHECK(b.bytes() == np::encoder_block_bytes(c, P));
      REQUIRE(model->encode_after(b, rest, &two).ok());
      REQUIRE(two.T == P + R);
      CHECK(two.key_valid == one.key_valid);
      // The block's states: float rounding. Its keys and values are kept in int8 (at most half
      // a step of each token's head, its largest magnitude / 127): the query's rows read the
      // encoder layers' in place (integer products, up to 64 rows) or dequantized (more rows:
      // the 70-token query), and two_ holds the cross-attention's dequantized (encode_after's
      // copied form). The query's rows drift by that rounding through the layers: about 1e-2.
      const size_t nb_out = static_cast<size_t>(P) * c.d_model, nb_kv = static_cast<size_t>(P) * c.kv_dim();
      const auto part = [](const std::vector<float>& x, size_t b, size_t e) {
        return std::vector<float>(x.begin() + static_cast<std::ptrdiff_t>(b), x.begin() + static_cast<std::ptrdiff_t>(e));
      };
      CHECK(max_abs_diff(part(one.out, 0, nb_out), part(two.out, 0, nb_out)) < 1e-4f);
      CHECK(max_abs_diff(part(one.out, nb_out, one.out.size()), part(two.out, nb_out, two.out.size())) < 3e-2f);
      for (int l = 0; l < c.n_dec_layers; ++l) {
        for (auto [x, y] : {std::pair{&one.cross_k[l], &two.cross_k[l]}, std::pair{&one.cross_v[l], &two.cross_v[l]}}) {
          // the block's: int8 rounding, at most half a step of each token's head (its largest
          // magnitude / 127), on top of float rounding; and not the exact values
          bool within = true;
          float worst = 0.0f;
          const int HS = c.head_dim();
          for (size_t i = 0; i < nb_kv; i += HS) {
            float m = 0.0f;
            for (int e = 0; e < HS; ++e) m = std::max(m, std::abs((*x)[i + e]));
            for (int e = 0; e < HS; ++e) {
              const float err = std::abs((*x)[i + e] - (*y)[i + e]);
              within &= err <= m / 254.0f * 1.01f + 1e-4f;
              worst = std::max(worst, err);
            }
          }
          CHECK(within);
          CHECK(worst > 0.0f);
          CHECK(max_abs_diff(part(*x, nb_kv, x->size()), part(*y, nb_kv, y->size())) < 3e-2f);
        }
      }
      // The block's states are the same whatever query follows; the query's are not.
      std::vector<int32_t> other(block);
      for (int32_t id : ids_of(R, 29, c.vocab_size)) other.push_back(id);
      np::EncoderOutput three;
      REQUIRE(model->encode(other, &three, P).ok());
      const size_t nb = static_cast<size_t>(P) * c.d_model;
      CHECK(std::vector<float>(three.out.begin(), three.out.begin() + nb) ==
            std::vector<float>(one.out.begin(), one.out.begin() + nb));
      CHECK(max_abs_diff(std::vector<float>(three.out.begin() + nb, three.out.end()),
                         std::vector<float>(one.out.begin() + nb, one.out.end())) > 1e-3f);
      // Without the mask the block would see the query.
      np::EncoderOutput unmasked;
      REQUIRE(model->encode(all, &unmasked, 0).ok());
      CHECK(max_abs_diff(std::vector<float>(unmasked.out.begin(), unmasked.out.begin() + nb),
                         std::vector<float>(one.out.begin(), one.out.begin() + nb)) > 1e-4f);
    }
  }
}

TEST_CASE("catalog encoder: a shared block is read in place and decodes as the copied form does", "[catalog]") {
  np::ModelConfig cfg = catalog_config();
  cfg.contrastive_dim = 16;  // a retrieval head, so embed() reads the prefix too
  auto model = np_test::random_model(9, cfg);
  const np::ModelConfig& c = model->config();
  auto block = std::make_shared<np::EncoderBlock>();
  std::vector<int32_t> ids = ids_of(19, 5, c.vocab_size);
  ids[0] = c.tools_id;
  REQUIRE(model->encode_block(ids, block.get()).ok());
  const std::vector<int32_t> rest = ids_of(6, 13, c.vocab_size);
  np::EncoderOutput copied, shared;
  REQUIRE(model->encode_after(*block, rest, &copied).ok());
  REQUIRE(model->encode_after(block, rest, &shared).ok());
  CHECK(copied.prefix == nullptr);
  CHECK(copied.prefix_T() == 0);
  REQUIRE(shared.prefix == block);
  CHECK(shared.prefix_T() == 19);
  CHECK(shared.T == copied.T);
  CHECK(shared.out.size() == rest.size() * c.d_model);  // only the query's rows are its own
  CHECK(shared.cross_k[0].size() == rest.size() * c.kv_dim());
  CHECK(std::vector<float>(copied.out.begin() + 19 * c.d_model, copied.out.end()) == shared.out);

  std::vector<int32_t> all(ids);
  all.insert(all.end(), rest.begin(), rest.end());
  std::vector<float> e1, e2;
  REQUIRE(model->embed(copied, all, &e1).ok());
  REQUIRE(model->embed(shared, all, &e2).ok());
  CHECK(e1 == e2);

  // The shared block's cross-attention products run in integers over its int8 keys and values
  // (ops/attention_q8.h), the copied form's in float over the same values dequantized: the
  // logits agree to the int16 rounding of the query rows and attention weights.
  REQUIRE_FALSE(block->cross_kq.empty());
  CHECK(block->cross_k.empty());
  np::DecoderState s1 = model->new_decoder_state(), s2 = model->new_decoder_state(), s3 = model->new_decoder_state();
  std::vector<float> l1(c.vocab_size), l2(c.vocab_size), l3(c.vocab_size);
  float worst = 0.0f;
  for (int32_t t : ids_of(40, 7, c.vocab_size)) {  // past the cache's first 32 rows
    REQUIRE(model->decode_step(copied, s1, t, l1.data()).ok());
    REQUIRE(model->decode_step(shared, s2, t, l2.data()).ok());
    REQUIRE(model->decode_step(shared, s3, t, l3.data()).ok());
    REQUIRE(l2 == l3);  // deterministic
    worst = std::max(worst, max_abs_diff(l1, l2));
  }
  CHECK(worst < 2e-2f);
  // A prefix that does not fit the output is refused.
  np::EncoderOutput bad = shared;
  bad.T = 19;
  CHECK(model->decode_step(bad, s2, 7, l2.data()).code() == np::Code::kInvalidInput);
}

TEST_CASE("catalog encoder: wrong use is refused with a clear error", "[catalog]") {
  auto bidi = np_test::random_model(8);
  const std::vector<int32_t> ids = ids_of(6, 1, bidi->config().vocab_size);
  np::EncoderOutput out;
  np::EncoderBlock b;
  CHECK(bidi->encode(ids, &out, 3).code() == np::Code::kInvalidInput);
  CHECK(bidi->encode_block(ids, &b).code() == np::Code::kUnsupported);

  auto cat = np_test::random_model(8, catalog_config());
  const int L = cat->config().max_enc_len;
  CHECK(cat->encode(ids, &out, 7).code() == np::Code::kInvalidInput);   // past the end
  CHECK(cat->encode(ids, &out, -1).code() == np::Code::kInvalidInput);
  CHECK(cat->encode_block({}, &b).code() == np::Code::kInvalidInput);
  CHECK(cat->encode_block(ids_of(L, 1, 512), &b).code() == np::Code::kInvalidInput);  // no room for a query
  CHECK(cat->encode_block({9999}, &b).code() == np::Code::kInvalidInput);
  REQUIRE(cat->encode_block(ids, &b).ok());
  CHECK(cat->encode_after(b, {}, &out).code() == np::Code::kInvalidInput);
  CHECK(cat->encode_after(b, ids_of(L - 5, 2, 512), &out).code() == np::Code::kInvalidInput);  // over the context
  CHECK(cat->encode_after(b, {-4}, &out).code() == np::Code::kInvalidInput);
  REQUIRE(!b.kq.empty());  // this shape keeps the encoder layers' keys and values in int8
  CHECK(b.k.empty());
  np::EncoderBlock foreign = b;  // a layer missing
  foreign.kq.pop_back();
  CHECK(cat->encode_after(foreign, {7}, &out).code() == np::Code::kInvalidInput);
  np::EncoderBlock short_layer = b;  // a layer's values shorter than the block
  short_layer.vq[1].q.resize(short_layer.vq[1].q.size() - 1);
  CHECK(cat->encode_after(short_layer, {7}, &out).code() == np::Code::kInvalidInput);
  np::EncoderBlock enc_scale = b;  // an encoder layer's scales that do not match the tokens
  enc_scale.kq[1].scale.pop_back();
  CHECK(cat->encode_after(enc_scale, {7}, &out).code() == np::Code::kInvalidInput);
  np::EncoderBlock both_enc = b;  // the encoder's lists in both forms
  both_enc.k.assign(both_enc.kq.size(), std::vector<uint16_t>(static_cast<size_t>(b.T) * cat->config().kv_dim()));
  both_enc.v = both_enc.k;
  CHECK(cat->encode_after(both_enc, {7}, &out).code() == np::Code::kInvalidInput);
  np::EncoderBlock short_cross = b;
  REQUIRE(!short_cross.cross_kq.empty());
  short_cross.cross_kq[0].q.resize(3);
  CHECK(cat->encode_after(short_cross, {7}, &out).code() == np::Code::kInvalidInput);
  np::EncoderBlock bad_scale = b;  // scales that do not match the tokens
  bad_scale.cross_vq[1].scale.pop_back();
  CHECK(cat->encode_after(bad_scale, {7}, &out).code() == np::Code::kInvalidInput);
  np::EncoderBlock both = b;  // int8 and bf16 lists at once: not a block this model made
  both.cross_k.assign(both.cross_kq.size(), std::vector<uint16_t>(static_cast<size_t>(b.T) * cat->config().kv_dim()));
  both.cross_v = both.cross_k;
  CHECK(cat->encode_after(both, {7}, &out).code() == np::Code::kInvalidInput);
  CHECK(cat->encode_after(b, {7}, &out).ok());
}

TEST_CASE("catalog training forward: the trainer's masked loss is the engine's", "[catalog]") {
  const np::ModelConfig c = catalog_config();
  std::shared_ptr<np::GgufFile> f = np_test::random_model_file(21, c);
  auto tm = np::TrainModel::from_gguf(*f);
  REQUIRE(tm.ok());
  auto model = np::Model::load(f);
  REQUIRE(model.ok());
  np::TrainModel train = tm.take();
  const np::Model& m = *model.value();

  // Two rows, right-padded, with different blocks.
  const int Te = 20, Td = 5;
  std::vector<int32_t> enc(2 * Te, c.pad_id), dec(2 * Td), tgt(2 * Td);
  const std::vector<int32_t> e0 = ids_of(20, 2, 512), e1 = ids_of(14, 9, 512);
  std::copy(e0.begin(), e0.end(), enc.begin());
  std::copy(e1.begin(), e1.end(), enc.begin() + Te);
  const std::vector<int32_t> prefix = {12, 6};
  const auto d0 = ids_of(Td + 1, 4, 512), d1 = ids_of(Td + 1, 17, 512);
  for (int t = 0; t < Td; ++t) {
    dec[t] = d0[t], tgt[t] = d0[t + 1];
    dec[Td + t] = d1[t], tgt[Td + t] = d1[t + 1];
  }
  np::TrainBatchView view{2, Te, Td, enc.data(), dec.data(), tgt.data(), nullptr, prefix.data()};
  np::LossInfo info;
  REQUIRE(train.forward_loss(view, np::LossConfig{}, &info).ok());

  double ce = 0;
  for (int s = 0; s < 2; ++s) {
    std::vector<int32_t> ids(enc.begin() + s * Te, enc.begin() + s * Te + (s == 0 ? 20 : 14));
    np::EncoderOutput eo;
    REQUIRE(m.encode(ids, &eo, prefix[s]).ok());
    np::DecoderState st = m.new_decoder_state();
    std::vector<float> logits(c.vocab_size);
    for (int t = 0; t < Td; ++t) {
      REQUIRE(m.decode_step(eo, st, dec[s * Td + t], logits.data()).ok());
      double mx = -1e30, sum = 0;
      for (float v : logits) mx = std::max(mx, static_cast<double>(v));
      for (float v : logits) sum += std::exp(v - mx);
      ce += mx + std::log(sum) - logits[tgt[s * Td + t]];
    }
  }
  ce /= 2 * Td;
  CHECK(info.ce == Approx(ce).epsilon(1e-4));

  // Without the prefixes the loss differs (the mask matters), and a prefix on a
  // bidirectional model, or past the row, is refused.
  np::TrainBatchView plain = view;
  plain.enc_prefix = nullptr;
  np::LossInfo info2;
  REQUIRE(train.forward_loss(plain, np::LossConfig{}, &info2).ok());
  CHECK(std::fabs(info2.ce - info.ce) > 1e-6);
  const std::vector<int32_t> bad = {21, 0};
  np::TrainBatchView badv = view;
  badv.enc_prefix = bad.data();
  CHECK(train.forward_loss(badv, np::LossConfig{}, &info2).code() == np::Code::kInvalidInput);
  REQUIRE(train.set_encoder_mask("bidirectional").ok());
  CHECK(train.forward_loss(view, np::LossConfig{}, &info2).code() == np::Code::kInvalidInput);
  CHECK(train.set_encoder_mask("sideways").code() == np::Code::kInvalidInput);
}

TEST_CASE("catalog cache: byte-bounded LRU", "[catalog]") {
  auto model = np_test::random_model(9, catalog_config());
  auto block = [&](int first, int n) {
    auto b = std::make_shared<np::EncoderBlock>();
    REQUIRE(model->encode_block(ids_of(n, first, 512), b.get()).ok());
    return std::shared_ptr<const np::EncoderBlock>(b);
  };
  auto a = block(1, 10), b = block(2, 10), c = block(3, 10);
  np::CatalogCache cache(a->bytes() * 2 + 10);
  cache.put(a);
  cache.put(b);
  CHECK(cache.size() == 2);
  CHECK(cache.bytes() == a->bytes() + b->bytes());
  CHECK(cache.find(a->ids) == a);  // a is now the most recent
  cache.put(c);                    // drops b, the least recently used
  CHECK(cache.size() == 2);
  CHECK(cache.find(b->ids) == nullptr);
  CHECK(cache.find(a->ids) == a);
  CHECK(cache.find(c->ids) == c);
  cache.put(block(4, 40));  // bigger than the whole budget: not kept, nothing dropped
  CHECK(cache.size() == 2);
  CHECK(cache.bytes() <= cache.max_bytes());
  cache.set_max_bytes(0);
  CHECK(cache.size() == 0);
  CHECK(cache.bytes() == 0);
}

TEST_CASE("catalog calls: the second call with a list reuses its block and answers the same", "[catalog]") {
  auto model = np_test::random_model(11, catalog_config());
  np::ToolCaller caller(model);
  np::CallOptions fresh;
  fresh.use_catalog_cache = false;
  for (const char* query : {"weather in Paris", "set a timer for 5 minutes", "what's up"}) {
    INFO(query);
    auto r = caller.call(query, kTools);
    REQUIRE(r.ok());
    auto again = caller.call(query, kTools);
    REQUIRE(again.ok());
    CHECK(again.value().catalog == "hit");
    auto ref = caller.call(query, kTools, fresh);
    REQUIRE(ref.ok());
    CHECK(ref.value().catalog == "off");
    CHECK(again.value().raw == ref.value().raw);
    CHECK(again.value().output_ids == ref.value().output_ids);
    CHECK(again.value().confidence_raw == Approx(ref.value().confidence_raw).epsilon(1e-3));
    CHECK(again.value().block_tokens > 0);
    CHECK(again.value().input_ids == ref.value().input_ids);
  }
  CHECK(caller.catalog_cache().size() == 1);  // one list, one block
  auto first = caller.call("hello", R"([{"name":"ping","description":"Ping."}])");
  REQUIRE(first.ok());
  CHECK(first.value().catalog == "miss");
  CHECK(caller.catalog_cache().size() == 2);
  caller.catalog_cache().set_max_bytes(1);
  auto off = caller.call("hello", R"([{"name":"ping","description":"Ping."}])");
  REQUIRE(off.ok());
  CHECK(off.value().catalog == "off");
  CHECK(off.value().raw == first.value().raw);

  // prepare_catalog: the block a call will want, encoded ahead of the call.
  caller.catalog_cache().set_max_bytes(np::CatalogCache::kDefaultBytes);
  const std::string list = R"([{"name":"pong","description":"Pong."},{"name":"ping","description":"Ping."}])";
  std::string status;
  auto prepared = caller.prepare_catalog(list, &status);
  REQUIRE(prepared.ok());
  CHECK(status == "miss");
  CHECK(prepared.value() > 5);
  auto after = caller.call("hello there", list);
  REQUIRE(after.ok());
  CHECK(after.value().catalog == "hit");
  CHECK(after.value().block_tokens == prepared.value());
  REQUIRE(caller.prepare_catalog(list, &status).ok());
  CHECK(status == "hit");
  CHECK(caller.prepare_catalog("[{bad", &status).status().code() == np::Code::kInvalidTools);

  // A bidirectional model never uses it.
  np::ToolCaller plain(np_test::random_model(11));
  REQUIRE(plain.prepare_catalog(list, &status).ok());
  CHECK(status == "none");
  auto p = plain.call("weather in Paris", kTools);
  REQUIRE(p.ok());
  CHECK(p.value().catalog == "none");
  CHECK(p.value().block_tokens == 0);
  CHECK(plain.catalog_cache().size() == 0);
}
