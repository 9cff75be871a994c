# SPDX-License-Identifier: MIT
# bridge/ against real MIT databases (kdb5_util, kadmin.local, krb5kdc).
foreach(t oracle1 oracle2 oracle3 concurrent malformed hashdb kdbmod chunks)
	if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/bridge_${t}.sh)
		ks_add_integration_test(bridge_${t}
			COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bridge_${t}.sh
			TIMEOUT 120)
	endif()
endforeach()
