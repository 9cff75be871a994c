# SPDX-License-Identifier: MIT
# node/ benchmark: mutual-TLS link handshakes, round trips, throughput.
add_executable(node_bench ${CMAKE_CURRENT_SOURCE_DIR}/node_bench.c
	${PROJECT_SOURCE_DIR}/tests/unit/node/certs.c)
target_link_libraries(node_bench PRIVATE ks_node ks_warnings)
