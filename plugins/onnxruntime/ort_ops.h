// The ops each adapter contributes to the normdeploy domain (see register.cpp for the table).
#pragma once

#include <vector>

struct OrtCustomOp;

namespace normdeploy {
void AppendGroupNormOrtOps(std::vector<const OrtCustomOp*>& ops);
void AppendLrnOrtOps(std::vector<const OrtCustomOp*>& ops);
}  // namespace normdeploy
