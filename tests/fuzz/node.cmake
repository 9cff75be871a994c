# SPDX-License-Identifier: MIT
# node/ fuzz targets: bytes from the network into the TLS pump, and
# configuration files into the validator.  The node sources under test are
# compiled into each target so libFuzzer's coverage reaches them.
ks_add_fuzz_target(node_tls_fuzz
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/node/node_tls_fuzz.c
		${PROJECT_SOURCE_DIR}/node/net/tls.c
		${PROJECT_SOURCE_DIR}/tests/unit/node/certs.c
	LIBS ks_common OpenSSL::SSL OpenSSL::Crypto
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/node_tls_fuzz)
ks_add_fuzz_target(node_conf_fuzz
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/node/node_conf_fuzz.c
		${PROJECT_SOURCE_DIR}/node/conf.c
		${PROJECT_SOURCE_DIR}/node/conf_keys.c
		${PROJECT_SOURCE_DIR}/node/conf_value.c
	LIBS ks_common PkgConfig::KRB5
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/node_conf_fuzz)
