// describe_model MODEL IMAGE: what an exported fastkp model is, and its answer for one image.
#include <fastkp/infer.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: describe_model MODEL IMAGE\n";
    return 2;
  }
  try {
    fastkp::infer::Model model = fastkp::infer::Model::load(argv[1]);
    const fastkp::infer::Metadata& meta = model.metadata();
    std::cerr << meta.arch << " " << meta.task << " model (" << fastkp::infer::format_name(meta.format)
              << "), network input " << meta.input_height << "x" << meta.input_width << ", output";
    for (const fastkp::infer::HeadSpec& head : meta.heads) std::cerr << " " << head.name << "(" << head.kind << ")";
    std::cerr << "\n";
    fastkp::infer::Image image = fastkp::infer::decode_image(argv[2]);
    fastkp::infer::Prediction prediction = model.predict(image);
    for (const fastkp::infer::HeadOutput& head : prediction.heads) {
      if (head.kind == "keypoints") {  // typed access to the heads of a known kind
        for (const auto& [x, y] : fastkp::infer::keypoints(prediction, head.name))
          std::cerr << head.name << ": (" << x << ", " << y << ")\n";
      } else if (head.kind == "multilabel") {
        for (const std::string& label : fastkp::infer::labels(prediction, head.name))
          std::cerr << head.name << ": " << label << "\n";
      }
    }
    std::cout << fastkp::infer::to_json(argv[2], image, prediction, meta) << "\n";
  } catch (const fastkp::infer::Error& e) {
    std::cerr << "describe_model: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
