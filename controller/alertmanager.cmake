# Alertmanager v2 client for audit findings (controller/alertmanager.h).
find_package(cpprestsdk REQUIRED)
kc_library(kc_alertmanager
  SRCS
    alertmanager.cc
  DEPS
    kc_common
    cpprestsdk::cpprest
    nlohmann_json::nlohmann_json
    Boost::headers
    OpenSSL::SSL
    OpenSSL::Crypto
    Threads::Threads)
if(KC_ENABLE_SANITIZERS)
  # cpprest's stream templates are instantiated both here and inside the uninstrumented
  # libcpprest; UBSan's vptr check then reports a false "member call on ... which does not point
  # to an object of type 'basic_streambuf'" in http_request::set_body.
  # A source property, so that it comes after the -fsanitize= of kc_build_options.
  set_source_files_properties(alertmanager.cc PROPERTIES COMPILE_OPTIONS -fno-sanitize=vptr)
endif()
