// The target that owns the build's one precompiled <torch/torch.h>; every
// Torch target reuses it (see expsvc_define_torch_pch in ExpsvcHelpers.cmake).
