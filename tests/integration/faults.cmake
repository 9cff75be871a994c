# SPDX-License-Identifier: MIT
# Faults: connection floods on loopback (and, where namespaces can be made,
# kernel-level network faults between two namespaces).
if(TARGET kdcsync_kdb)
	ks_add_integration_test(net_flood
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/net_flood.sh
		TIMEOUT 240)
endif()
# Network namespaces (root): skipped, not passed, where they cannot be made.
foreach(t each nemesis)
	ks_add_integration_test(faults_${t}
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/faults_${t}.sh
		TIMEOUT 240)
	set_tests_properties(faults_${t} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()
