# SPDX-License-Identifier: MIT
# store/ benchmark: bulk load, single commits, log iteration, digest cost.
add_executable(store_bench ${CMAKE_CURRENT_SOURCE_DIR}/store_bench.c)
target_link_libraries(store_bench PRIVATE ks_store ks_warnings)
