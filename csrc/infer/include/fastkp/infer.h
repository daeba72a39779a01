// fastkp::infer: run models exported by `python -m fastkp.export` from C++,
// without Python. Link the CMake target fastkp::infer (find_package(fastkp)).
//
//   auto model = fastkp::infer::Model::load("model.pt");      // or a .pt2 package
//   auto image = fastkp::infer::decode_image("face.jpg");     // RGB, EXIF orientation applied
//   auto pred = model.predict(image);                         // one output per head of the model
//   auto points = fastkp::infer::keypoints(pred);             // a keypoints head, in pixels
//   auto names = fastkp::infer::labels(pred);                 // or a multilabel head's labels
//   std::cout << fastkp::infer::to_json("face.jpg", image, pred, model.metadata()) << "\n";
//
// A model is a list of heads (Metadata::heads); each head kind has a decoder in
// fastkp/infer/heads/ that checks the output's shape and writes its JSON fields.
#pragma once

#include "fastkp/infer/error.h"
#include "fastkp/infer/head_decoder.h"
#include "fastkp/infer/heads/keypoints.h"
#include "fastkp/infer/heads/multilabel.h"
#include "fastkp/infer/image.h"
#include "fastkp/infer/metadata.h"
#include "fastkp/infer/model.h"
#include "fastkp/infer/prediction.h"
