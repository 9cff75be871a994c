# SPDX-License-Identifier: MIT
# store/ fuzz target: operation programs against a real LMDB store.  The
# store sources are compiled into the target so coverage reaches them.
ks_add_fuzz_target(store_ops_fuzz
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/store_ops_fuzz.c
		${PROJECT_SOURCE_DIR}/store/bucket.c
		${PROJECT_SOURCE_DIR}/store/check.c
		${PROJECT_SOURCE_DIR}/store/commit.c
		${PROJECT_SOURCE_DIR}/store/db.c
		${PROJECT_SOURCE_DIR}/store/digest.c
		${PROJECT_SOURCE_DIR}/store/key.c
		${PROJECT_SOURCE_DIR}/store/log.c
		${PROJECT_SOURCE_DIR}/store/meta.c
		${PROJECT_SOURCE_DIR}/store/peers.c
		${PROJECT_SOURCE_DIR}/store/read.c
		${PROJECT_SOURCE_DIR}/store/relay.c
		${PROJECT_SOURCE_DIR}/store/set.c
		${PROJECT_SOURCE_DIR}/store/stage.c
		${PROJECT_SOURCE_DIR}/store/store.c
	LIBS ks_common PkgConfig::LMDB OpenSSL::Crypto
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/store_ops_fuzz)
