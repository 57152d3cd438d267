# Tests of the audit detections and the learned baseline.
kc_test(controller_detections_test SRCS detections_test.cc DEPS kc_detections kc_test_util)
kc_test(controller_baseline_test SRCS baseline_test.cc DEPS kc_detections kc_test_util)
kc_test(controller_finding_json_test SRCS finding_json_test.cc DEPS kc_detections)
kc_test(controller_ownership_test SRCS ownership_test.cc DEPS kc_detections)
kc_fuzzer(detections_fuzz SRCS detections_fuzz.cc DEPS kc_audit_pipeline kc_webhook)
kc_test(controller_object_memory_test SRCS object_memory_test.cc DEPS kc_detections kc_test_util)
kc_test(controller_pipeline_test SRCS pipeline_test.cc DEPS kc_audit_pipeline)
kc_fuzzer(object_memory_fuzz SRCS object_memory_fuzz.cc DEPS kc_detections)
