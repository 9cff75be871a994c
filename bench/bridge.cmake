# SPDX-License-Identifier: MIT
# bridge_bench: scan / rescan / full load vs kdb5_util dump / load.
add_executable(bridge_bench ${CMAKE_CURRENT_SOURCE_DIR}/bridge_bench.c)
target_link_libraries(bridge_bench PRIVATE ks_bridge ks_warnings)
