# SPDX-License-Identifier: MIT
# Faults: connection floods on loopback (and, where namespaces can be made,
# kernel-level network faults between two namespaces).
if(TARGET kdcsync_hook)
	ks_add_integration_test(net_flood
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/net_flood.sh
		TIMEOUT 240)
endif()
