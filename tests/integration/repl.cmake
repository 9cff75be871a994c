# SPDX-License-Identifier: MIT
# Replication end to end (node/repl, bridge/hook, deploy/pair.sh) against
# real MIT KDCs.
# (the tests need the hook module: bridge/CMakeLists.txt adds it)
foreach(t hook initial stream restart history trust crash promote)
	if(TARGET kdcsync_hook AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/repl_${t}.sh)
		ks_add_integration_test(repl_${t}
			COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_${t}.sh
			TIMEOUT 180)
	endif()
endforeach()
