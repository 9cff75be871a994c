# SPDX-License-Identifier: MIT
# Replication benchmark (bench/repl_bench.sh) helper: the AS-request probe.
add_executable(repl_probe ${CMAKE_CURRENT_SOURCE_DIR}/repl_probe.c)
target_link_libraries(repl_probe PRIVATE PkgConfig::KRB5 ks_warnings)
