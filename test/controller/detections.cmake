# Tests of the audit detections and the learned baseline.
# The detector as a whole (emulations, attribution, bounds); each rule's tests are in detect/.
kc_test(controller_detector_test SRCS detector_test.cc DEPS kc_detect_test_util)
target_compile_definitions(controller_detector_test PRIVATE
  KC_DETECT_TEST_DIR="${CMAKE_CURRENT_SOURCE_DIR}/detect"
  KC_NODE_TEST_DIR="${PROJECT_SOURCE_DIR}/test/node")
add_subdirectory(detect)
kc_test(controller_baseline_test SRCS baseline_test.cc DEPS kc_detections kc_test_util)
kc_test(controller_finding_json_test SRCS finding_json_test.cc DEPS kc_detections)
kc_test(controller_ownership_test SRCS ownership_test.cc DEPS kc_detections)
kc_fuzzer(detections_fuzz SRCS detections_fuzz.cc DEPS kc_detections kc_policy_store)
kc_test(controller_object_memory_test SRCS object_memory_test.cc DEPS kc_detections kc_test_util)
kc_test(controller_pipeline_test SRCS pipeline_test.cc DEPS kc_detections)
kc_fuzzer(object_memory_fuzz SRCS object_memory_fuzz.cc DEPS kc_detections)
