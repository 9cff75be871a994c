# SPDX-License-Identifier: MIT
# kprop compatibility against the stock MIT kprop/kpropd (Debian krb5).
foreach(t push listen daemon refuse native)
	if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/kprop_${t}.sh)
		ks_add_integration_test(kprop_${t}
			COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/kprop_${t}.sh
			TIMEOUT 120)
	endif()
endforeach()
