# SPDX-License-Identifier: MIT
# proto/ benchmark: batch encode+sign, verify+decode, compressed size.
add_executable(proto_bench ${CMAKE_CURRENT_SOURCE_DIR}/proto_bench.c)
target_link_libraries(proto_bench PRIVATE ks_proto ks_warnings)
