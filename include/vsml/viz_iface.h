/* The frame that shaders/viz_draw.comp draws, shared by the host (C) and the
 * shader (GLSL): binding 1 is a buffer of 32-bit words that starts with a
 * header of VIZ_H_SIZE words (indices VIZ_H_*) followed by arrays at the word
 * offsets the header gives. Rectangles are x0, y0, x1, y1 in pixels (x1, y1
 * exclusive; x0 == x1 = not drawn). Floats are stored as their bits.
 *
 * The probability strip shows the last VIZ_STEPS steps [t_first, t_now),
 * t_first = max(0, t_now - VIZ_STEPS): column i is step t_first + i, row c is
 * class c, the cell colour is viz_colormap(softmax(outputs of step t)[c]).
 * Strip 0 reads the engine's output buffer (binding 0; step t at float
 * (t - logits_t0) * C); strip 1 reads a ring of VIZ_STEPS rows of C floats
 * in the frame buffer (step t at row t % VIZ_STEPS). The true class is
 * marked by a square outline, the predicted (argmax) class by a ring.
 * The labels always start right after the header (VIZ_H_SIZE). What every
 * pixel reads (sizes, rectangles, offsets) also travels as push constants
 * (viz_pc in src/viz/render.c): llvmpipe loads buffer words lane by lane. */
#ifndef VSML_VIZ_IFACE_H
#define VSML_VIZ_IFACE_H

#define VIZ_STEPS 100
#define VIZ_MAX_STRIPS 2
#define VIZ_MAX_CURVES 2
#define VIZ_WG 8 /* workgroups are VIZ_WG x VIZ_WG pixels */

#define VIZ_H_WIDTH 0
#define VIZ_H_HEIGHT 1
#define VIZ_H_CLASSES 2
#define VIZ_H_T_NOW 3
#define VIZ_H_N_STRIPS 4
#define VIZ_H_SWAP_RB 5      /* 0: pixels are 0xAARRGGBB (cairo, B8G8R8A8); 1: 0xAABBGGRR */
#define VIZ_H_IMG_W 6        /* input image: width, height, channels (CHW) */
#define VIZ_H_IMG_H 7
#define VIZ_H_IMG_C 8
#define VIZ_H_CURVE_N 9      /* values per accuracy curve (one per plot column) */
#define VIZ_H_N_CURVES 10
#define VIZ_H_OFF_LABELS 11  /* int [VIZ_STEPS]: label of step t at t % VIZ_STEPS */
#define VIZ_H_OFF_RING 12    /* float [VIZ_STEPS][C]: strip 1's outputs */
#define VIZ_H_OFF_IMG 13     /* float [img_c][img_h][img_w] in [0, 1] */
#define VIZ_H_OFF_CURVE 14   /* float [n_curves][curve_n] in [0, 1]; negative = no data */
#define VIZ_H_LOGITS_T0 15   /* first step held by the engine's output buffer */
#define VIZ_H_CHANCE 16      /* float: chance level drawn in the plot */
#define VIZ_H_RECT_STRIP 20  /* VIZ_MAX_STRIPS rectangles */
#define VIZ_H_RECT_IMG 28
#define VIZ_H_RECT_PLOT 32
#define VIZ_H_RECT_CBAR 36
#define VIZ_H_SIZE 40

#endif
