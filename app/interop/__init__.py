"""Other tools' workflow formats: ComfyUI (API prompt, UI file, widget values, export) and
AUTOMATIC1111 infotexts, turned into and out of our Graph. The only place besides ``nodes/`` that
knows catalog node ids.
"""
