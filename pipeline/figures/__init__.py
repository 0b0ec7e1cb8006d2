"""The paper's figures: t-SNE of learned features (Figure 4) and Grad-CAM of a 3D model (Figure 5)."""
