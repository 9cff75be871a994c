# SPDX-License-Identifier: MIT
# Fuzz target for bridge/convert.c's strict dump-line parsers.
ks_add_fuzz_target(bridge_parse_fuzz
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/bridge_parse_fuzz.c
	LIBS ks_bridge
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/bridge_parse_fuzz)
# Fuzz target for bridge/report.c's capture-report decoder.
ks_add_fuzz_target(bridge_report_fuzz
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/bridge_report_fuzz.c
	LIBS ks_bridge
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/bridge_report_fuzz)
