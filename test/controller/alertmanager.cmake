# Tests of the Alertmanager client; they start a real prometheus-alertmanager when installed.
kc_test(controller_alertmanager_test SRCS alertmanager_test.cc DEPS kc_alertmanager kc_test_util)
