# SPDX-License-Identifier: MIT
# Replication benchmark (bench/repl_bench.sh) helper: the AS-request probe.
add_executable(repl_probe ${CMAKE_CURRENT_SOURCE_DIR}/repl_probe.c)
target_link_libraries(repl_probe PRIVATE PkgConfig::KRB5 ks_warnings)
# Scale benchmark (bench/scale_bench.sh) helper: AS requests in a loop.
add_executable(as_loop ${CMAKE_CURRENT_SOURCE_DIR}/as_loop.c)
target_link_libraries(as_loop PRIVATE PkgConfig::KRB5 ks_warnings)
# KDB lookup cost with and without the KDB module (bench/as_rate.sh).
add_executable(kdb_lookup ${CMAKE_CURRENT_SOURCE_DIR}/kdb_lookup.c)
target_link_libraries(kdb_lookup PRIVATE PkgConfig::KDB PkgConfig::KRB5 ks_warnings)
