# SPDX-License-Identifier: MIT
# node/: kdcsyncd processes on loopback (pair, reload, startup errors).
foreach(t pair reload notify strict)
	if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/node_${t}.sh)
		ks_add_integration_test(node_${t}
			COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/node_${t}.sh
			TIMEOUT 120)
	endif()
endforeach()
