# tflm-train for Makefile builds: include this file, then add the variables to your build.
#
#   TFLMT_ROOT := path/to/tflm-train
#   include $(TFLMT_ROOT)/kernels/tflmt.mk
#   SRCS     += $(TFLMT_CORE_SRCS) $(TFLMT_TFLM_SRCS)      # C99 core + TFLM registrations
#   INCLUDES += $(TFLMT_INCLUDES)
#   CFLAGS   += $(TFLMT_CFLAGS)      # for the .c files
#   CXXFLAGS += $(TFLMT_CXXFLAGS)    # for the .cc files (alongside TFLM's own flags)
#
# TFLMT_TFLM_SRCS need TFLM's headers on the include path (your TFLM tree). The core does not.
TFLMT_ROOT ?= $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
TFLMT_CORE_SRCS := $(sort $(wildcard $(TFLMT_ROOT)/kernels/core/*.c))
# The int8 forward (inference) kernels among them: a TFLM app runs TFLM's own, the static-C
# deployment (tflm-train export-c --static) links these.
TFLMT_FORWARD_SRCS := $(addprefix $(TFLMT_ROOT)/kernels/core/,add_s8.c avg_pool_s8.c conv2d_s8.c \
  depthwise_conv2d_s8.c fully_connected_s8.c max_pool_s8.c mean_s8.c pad_s8.c)
TFLMT_TRAINING_SRCS := $(filter-out $(TFLMT_FORWARD_SRCS),$(TFLMT_CORE_SRCS))
# The naive loop nests are the benchmark baseline; a device build does not need them.
TFLMT_NAIVE_SRCS := $(sort $(wildcard $(TFLMT_ROOT)/kernels/core/naive/*.c))
TFLMT_TFLM_SRCS := $(sort $(wildcard $(TFLMT_ROOT)/kernels/tflm/*.cc))
TFLMT_INCLUDES := -I$(TFLMT_ROOT)/kernels/include -I$(TFLMT_ROOT)/kernels
# Float kernels follow the spec's summation order: no fused multiply-add.
TFLMT_CFLAGS := -std=c99 -ffp-contract=off
TFLMT_CXXFLAGS := -std=c++17 -ffp-contract=off
