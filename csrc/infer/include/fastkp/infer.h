// fastkp::infer: run models exported by `python -m fastkp.export` from C++,
// without Python. Link the CMake target fastkp::infer (find_package(fastkp)).
//
//   auto model = fastkp::infer::Model::load("model.pt");      // or a .pt2 package
//   auto image = fastkp::infer::decode_image("face.jpg");     // RGB, EXIF orientation applied
//   auto pred = model.predict(image);                         // keypoints in pixels, or labels
//   std::cout << fastkp::infer::to_json("face.jpg", image, pred, model.metadata()) << "\n";
#pragma once

#include "fastkp/infer/error.h"
#include "fastkp/infer/image.h"
#include "fastkp/infer/metadata.h"
#include "fastkp/infer/model.h"
#include "fastkp/infer/prediction.h"
