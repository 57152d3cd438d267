# respond isolate-pod / release-pod: the manifests parsed back with yaml-cpp; the command as a
# process (exit codes, nothing printed on a usage error); every printed document, for each
# owner kind, against the Kubernetes schemas of kubernetes-models and each printed kubectl
# command line parsed by kubectl (skipped without node, the modules or kubectl; a failure when
# CI=true or KC_REQUIRE_TOOLS=1).
kc_test(respond_pod_manifests_test SRCS ${CMAKE_CURRENT_LIST_DIR}/pod_manifests_test.cc
  DEPS kc_respond_pod yaml-cpp)
add_test(NAME respond_pod_cli
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/pod_manifests_schema.sh cli $<TARGET_FILE:kube-customs>)
add_test(NAME respond_pod_manifests_schema
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/pod_manifests_schema.sh schema
    $<TARGET_FILE:kube-customs>)
set_tests_properties(respond_pod_cli PROPERTIES TIMEOUT 60)
# install_tools.sh may run here (CI) and fetch the chart tools.
set_tests_properties(respond_pod_manifests_schema PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
