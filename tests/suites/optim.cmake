# optim.cmake — the optimiser against PyTorch (tests/ref/check_optim_torch.py): AdamW
# trajectories of np::Optimizer, run by the np_optim_trace driver, step by step against
# torch.optim.AdamW with clip_grad_norm_ and LambdaLR (docs/training.md).
# Missing torch fails the suite (tools/install-deps.sh installs python3-torch).
add_executable(np_optim_trace ${NP_SOURCE_DIR}/tests/ref/optim_trace.cpp)
target_link_libraries(np_optim_trace PRIVATE np_core)
add_test(NAME optim_torch
         COMMAND ${NP_PYTHON} ${NP_SOURCE_DIR}/tests/ref/check_optim_torch.py
                 --trace $<TARGET_FILE:np_optim_trace>)
set_tests_properties(optim_torch PROPERTIES TIMEOUT 300)
