// Status: the error type every normdeploy C++ layer returns instead of throwing.
// Messages name the op, the field and the offending value, e.g.
//   "GroupNorm: num_groups=5 does not divide C=64".
#pragma once

#include <sstream>
#include <string>
#include <utility>

namespace normdeploy {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(std::move(message), true); }

  bool ok() const { return !failed_; }
  const std::string& message() const { return message_; }

 private:
  Status(std::string message, bool failed) : message_(std::move(message)), failed_(failed) {}
  std::string message_;
  bool failed_ = false;
};

// Builds a message from streamable parts: MakeError("GroupNorm: num_groups=", g, " ...").
template <typename... Parts>
Status MakeError(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return Status::Error(out.str());
}

#define ND_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::normdeploy::Status nd_status_ = (expr); \
    if (!nd_status_.ok()) return nd_status_;  \
  } while (0)

}  // namespace normdeploy
