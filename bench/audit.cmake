# Audit consumer benchmarks; included from bench/CMakeLists.txt.
#   audit_gen N OUT.jsonl [SEED]        writes N realistic audit events as JSON lines
#   audit_parse_bench OUT.jsonl [ROUNDS] [--stream-only]
#                                       compares EventParser with simdjson's raw parse
add_executable(audit_gen ${CMAKE_CURRENT_LIST_DIR}/audit_gen.cc)
target_link_libraries(audit_gen PRIVATE kc_build_options)

add_executable(audit_parse_bench ${CMAKE_CURRENT_LIST_DIR}/audit_parse_bench.cc)
target_link_libraries(audit_parse_bench PRIVATE kc_controller simdjson::simdjson)
