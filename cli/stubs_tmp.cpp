// stubs_tmp.cpp — TEMPORARY during parallel development: each command's owner deletes its
// stub here when its real implementation lands. Every stub fails loudly.
#include "commands.h"
namespace np_cli {
#define NP_STUB(fn) int fn(const Args&) { return fail(#fn " not implemented yet"); }
}
namespace np_cli {
// cmd_model.cpp.wip lands once gguf and tokenizer link.
NP_STUB(cmd_logits)
NP_STUB(cmd_embed)
NP_STUB(cmd_inspect)
NP_STUB(cmd_make_model)
NP_STUB(cmd_pack_tokenizer)
}
