#pragma once
// The one style of recoverable error in kube-customs: a value or an error code with a message
// for people, returned, never thrown. `E` is an enum whose first enumerator (value 0) is
// "none"; its names are the metric label values of the errors (see each enum's *Name()).
//
//   Result<Container, DockerError> r = client.inspectContainer(id);
//   if (!r.ok()) { count(r.error); log(r.message); return; }
//   use(r.value);
//
// Status<E> is the same without a value. Thread-safety: plain values.

#include <string>

namespace kc {

template <class T, class E>
struct Result {
  E error{};            // E{} (the "none" enumerator) when ok
  std::string message;  // for people: what failed and why; "" when ok
  T value{};
  bool ok() const { return error == E{}; }
};

template <class E>
struct Status {
  E error{};
  std::string message;
  bool ok() const { return error == E{}; }
};

}  // namespace kc
