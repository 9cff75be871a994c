# SPDX-License-Identifier: MIT
# proto/ fuzz targets.  The proto sources are compiled into each target (not
# linked from ks_proto) so that libFuzzer's coverage instrumentation reaches
# the code under test.  proto_corpus regenerates the committed seed corpora:
#   proto_corpus tests/fuzz/corpus
set(KS_PROTO_FUZZ_SRC
	${PROJECT_SOURCE_DIR}/proto/batch.c
	${PROJECT_SOURCE_DIR}/proto/frame.c
	${PROJECT_SOURCE_DIR}/proto/msg.c
	${PROJECT_SOURCE_DIR}/proto/sign.c
	${PROJECT_SOURCE_DIR}/proto/snap.c)
set(KS_PROTO_FUZZ_LIBS ks_common PkgConfig::ZSTD OpenSSL::Crypto)

ks_add_fuzz_target(fuzz_proto_frame
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/proto/fuzz_proto_frame.c ${KS_PROTO_FUZZ_SRC}
	LIBS ${KS_PROTO_FUZZ_LIBS}
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/fuzz_proto_frame)
ks_add_fuzz_target(fuzz_proto_msg
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/proto/fuzz_proto_msg.c ${KS_PROTO_FUZZ_SRC}
	LIBS ${KS_PROTO_FUZZ_LIBS}
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/fuzz_proto_msg)
ks_add_fuzz_target(fuzz_proto_batch
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/proto/fuzz_proto_batch.c ${KS_PROTO_FUZZ_SRC}
	LIBS ${KS_PROTO_FUZZ_LIBS}
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/fuzz_proto_batch)

add_executable(proto_corpus ${CMAKE_CURRENT_SOURCE_DIR}/proto/proto_corpus.c)
target_link_libraries(proto_corpus PRIVATE ks_proto ks_warnings)

# kprop: size message, kpropd.acl matching, server machine framing.
ks_add_fuzz_target(fuzz_proto_kprop
	SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/proto/fuzz_proto_kprop.c
		${PROJECT_SOURCE_DIR}/proto/kprop/kprop.c
	LIBS ks_common
	CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/fuzz_proto_kprop)
