# Audit consumer benchmarks; included from bench/CMakeLists.txt.
#   audit_gen N OUT.jsonl [SEED] [--attacks]
#                                       writes N realistic audit events as JSON lines; with
#                                       --attacks, a burst where every event is an attack
#   audit_parse_bench OUT.jsonl [ROUNDS] [--stream-only]
#                                       compares EventParser with simdjson's raw parse
add_executable(audit_gen ${CMAKE_CURRENT_LIST_DIR}/audit_gen.cc)
target_link_libraries(audit_gen PRIVATE kc_build_options)

add_executable(audit_parse_bench ${CMAKE_CURRENT_LIST_DIR}/audit_parse_bench.cc)
target_link_libraries(audit_parse_bench PRIVATE kc_audit_ingest kc_audit_events simdjson::simdjson)

#   ondemand_envelope_bench OUT.jsonl [ROUNDS]
#                                       an envelope-only On-Demand walk against the DOM parse
# On-Demand is compiled into the program: build it for the SIMD kernels where the compiler
# can (the program prints which kernels it runs).
add_executable(ondemand_envelope_bench ${CMAKE_CURRENT_LIST_DIR}/ondemand_envelope_bench.cc)
target_link_libraries(ondemand_envelope_bench PRIVATE kc_build_options simdjson::simdjson)
include(CheckCXXCompilerFlag)
check_cxx_compiler_flag(-march=haswell KC_HAVE_MARCH_HASWELL)
if(KC_HAVE_MARCH_HASWELL AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  target_compile_options(ondemand_envelope_bench PRIVATE -march=haswell)
endif()
