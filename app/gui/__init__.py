"""The Qt desktop studio: an adapter over the Qt-free engine (imported only for the window)."""
