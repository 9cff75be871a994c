# SPDX-License-Identifier: MIT
# Replication end to end (node/repl, bridge/kdbmod, deploy/pair.sh) against
# real MIT KDCs.
# (the tests need the KDB module: bridge/CMakeLists.txt adds it)
foreach(t initial stream restart history trust crash promote longname capture
	metrics mkey mkey_fast busy follow_refuse lockout lockout_off sync chain
	chain_lockout chain_repair
	sync_paths)
	if(TARGET kdcsync_kdb AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/repl_${t}.sh)
		ks_add_integration_test(repl_${t}
			COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_${t}.sh
			TIMEOUT 180)
	endif()
endforeach()

# kdcsync verify PEER's test changes a stopped replica's store with this.
add_executable(store_poke ${CMAKE_CURRENT_SOURCE_DIR}/store_poke.c)
target_link_libraries(store_poke PRIVATE ks_store ks_common ks_warnings)
if(TARGET kdcsync_kdb)
	ks_add_integration_test(repl_verify
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_verify.sh
		TIMEOUT 180)
	ks_add_integration_test(repl_verify_many
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_verify_many.sh
		TIMEOUT 300)
endif()

# The replica's KDB on a full tmpfs (private mount namespace; 77 = skipped).
if(TARGET kdcsync_kdb)
	ks_add_integration_test(repl_kdbfull
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_kdbfull.sh
		TIMEOUT 180)
	set_tests_properties(repl_kdbfull PROPERTIES SKIP_RETURN_CODE 77)
endif()

# Drift of a replica's KDB from its store: verify, status, repair.
if(TARGET kdcsync_kdb)
	ks_add_integration_test(repl_drift
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_drift.sh
		TIMEOUT 180)
endif()

# A replica whose store and KDB differ from the primary's: verify PEER lists
# each key, repair refetches from the primary and rewrites the KDB.
if(TARGET kdcsync_kdb)
	ks_add_integration_test(repl_repair
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_repair.sh
		TIMEOUT 180)
endif()

# A damaged replica KDB rebuilt from the store; one it cannot fix (part 2
# needs a private mount namespace and says when it is skipped).
if(TARGET kdcsync_kdb)
	ks_add_integration_test(repl_rebuild
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_rebuild.sh
		TIMEOUT 240)
endif()

# The scale benchmark's smoke run (500 principals; needs bench/as_loop).
if(TARGET kdcsync_kdb AND KS_BUILD_BENCH)
	ks_add_integration_test(bench_scale_smoke
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench_scale_smoke.sh
		TIMEOUT 120)
endif()

# The loop benchmark's smoke run (500 principals).
if(TARGET kdcsync_kdb)
	ks_add_integration_test(bench_loop_smoke
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bench_loop_smoke.sh
		TIMEOUT 180)
endif()

# keepalived in two network namespaces (root; skipped with 77 where
# namespaces cannot be made).
if(TARGET kdcsync_kdb)
	ks_add_integration_test(ha_keepalived
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ha_keepalived.sh
		TIMEOUT 240)
	set_tests_properties(ha_keepalived PROPERTIES SKIP_RETURN_CODE 77)
endif()

# Full copies of a realistic realm killed mid-stream and stalled past the
# keepalive interval, the replica's KDC serving throughout (needs the
# generator's Python).
if(TARGET kdcsync_kdb)
	ks_add_integration_test(repl_fullcopy
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_fullcopy.sh
		TIMEOUT 300)
	ks_add_integration_test(repl_after_copy
		COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/repl_after_copy.sh
		TIMEOUT 300)
endif()
