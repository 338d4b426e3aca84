// Deploying without Python: load an ONNX model with normdeploy nodes and our custom-op library
// through ONNX Runtime's C++ API, run it on inputs from .npy files (or random ones) and print and
// save the outputs.
//
//   nd_run_model model.onnx --library libnormdeploy_ort.so [--input NAME=file.npy ...]
//                [--shape NAME=1x3x224x224 ...] [--seed N] [--output-dir DIR] [--threads N]
//
// float32 inputs and outputs. Exit codes: 0 ok, 1 ONNX Runtime error, 2 bad arguments.
#include <onnxruntime_cxx_api.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "npy.h"

namespace {

struct Args {
  std::string model;
  std::string library;
  std::map<std::string, std::string> inputs;                // name -> .npy
  std::map<std::string, std::vector<int64_t>> shapes;       // name -> shape for random inputs
  unsigned seed = 0;
  std::string output_dir;
  int threads = 0;
};

std::vector<int64_t> ParseShape(const std::string& text) {
  std::vector<int64_t> dims;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = text.find('x', start);
    const std::string part = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos) {
      throw std::invalid_argument("bad shape '" + text + "' (expected e.g. 1x3x224x224)");
    }
    dims.push_back(std::stoll(part));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return dims;
}

std::pair<std::string, std::string> SplitNameValue(const std::string& text, const char* flag) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) throw std::invalid_argument(std::string(flag) + " expects NAME=VALUE, got '" + text + "'");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(std::string(flag) + " needs a value");
      return argv[++i];
    };
    if (arg == "--library") a.library = next("--library");
    else if (arg == "--input") a.inputs.insert(SplitNameValue(next("--input"), "--input"));
    else if (arg == "--shape") {
      auto [name, shape] = SplitNameValue(next("--shape"), "--shape");
      a.shapes[name] = ParseShape(shape);
    } else if (arg == "--seed") a.seed = static_cast<unsigned>(std::stoul(next("--seed")));
    else if (arg == "--output-dir") a.output_dir = next("--output-dir");
    else if (arg == "--threads") a.threads = std::stoi(next("--threads"));
    else if (!arg.empty() && arg[0] == '-') throw std::invalid_argument("unknown option " + arg);
    else if (a.model.empty()) a.model = arg;
    else throw std::invalid_argument("more than one model: " + arg);
  }
  if (a.model.empty()) throw std::invalid_argument("no model given");
  if (a.library.empty()) throw std::invalid_argument("--library (path of libnormdeploy_ort.so) is required");
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  try {
    args = Parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "nd_run_model: " << e.what() << "\n"
              << "usage: nd_run_model model.onnx --library libnormdeploy_ort.so [--input NAME=x.npy] "
                 "[--shape NAME=1x3x8x8] [--seed N] [--output-dir DIR] [--threads N]\n";
    return 2;
  }
  try {
    Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "nd_run_model");
    Ort::SessionOptions options;
    options.RegisterCustomOpsLibrary(args.library.c_str());
    if (args.threads > 0) options.SetIntraOpNumThreads(args.threads);
    Ort::Session session(env, args.model.c_str(), options);
    Ort::AllocatorWithDefaultOptions allocator;
    Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);

    std::vector<std::string> in_names, out_names;
    std::vector<ndexample::NpyArray> in_data;
    std::vector<Ort::Value> in_values;
    std::mt19937 gen(args.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (size_t i = 0; i < session.GetInputCount(); ++i) {
      const std::string name = session.GetInputNameAllocated(i, allocator).get();
      in_names.push_back(name);
      ndexample::NpyArray array;
      if (args.inputs.count(name)) {
        array = ndexample::ReadNpy(args.inputs[name]);
      } else {
        auto shape = session.GetInputTypeInfo(i).GetTensorTypeAndShapeInfo().GetShape();
        if (args.shapes.count(name)) shape = args.shapes[name];
        int64_t count = 1;
        for (int64_t d : shape) {
          if (d < 0) {
            std::cerr << "nd_run_model: input '" << name << "' has a dynamic dim: pass --shape " << name
                      << "=... or --input " << name << "=file.npy\n";
            return 2;
          }
          count *= d;
        }
        array.shape = shape;
        array.data.resize(static_cast<size_t>(count));
        for (float& v : array.data) v = normal(gen);
      }
      in_data.push_back(std::move(array));
    }
    for (auto& a : in_data) {
      in_values.push_back(Ort::Value::CreateTensor<float>(cpu, a.data.data(), a.data.size(), a.shape.data(),
                                                          a.shape.size()));
    }
    for (size_t i = 0; i < session.GetOutputCount(); ++i) {
      out_names.push_back(session.GetOutputNameAllocated(i, allocator).get());
    }
    std::vector<const char*> in_ptrs, out_ptrs;
    for (auto& n : in_names) in_ptrs.push_back(n.c_str());
    for (auto& n : out_names) out_ptrs.push_back(n.c_str());
    auto outputs = session.Run(Ort::RunOptions{nullptr}, in_ptrs.data(), in_values.data(), in_values.size(),
                               out_ptrs.data(), out_ptrs.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto info = outputs[i].GetTensorTypeAndShapeInfo();
      const auto shape = info.GetShape();
      const float* data = outputs[i].GetTensorData<float>();
      std::cout << out_names[i] << ": shape [";
      for (size_t d = 0; d < shape.size(); ++d) std::cout << (d ? ", " : "") << shape[d];
      std::cout << "], first values:";
      for (size_t k = 0; k < std::min<size_t>(5, info.GetElementCount()); ++k) std::cout << " " << data[k];
      std::cout << "\n";
      if (!args.output_dir.empty()) ndexample::WriteNpy(args.output_dir + "/" + out_names[i] + ".npy", shape, data);
    }
  } catch (const Ort::Exception& e) {
    std::cerr << "nd_run_model: ONNX Runtime: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "nd_run_model: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
