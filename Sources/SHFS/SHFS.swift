// Module SHFS: being built; see ../shared/DESIGN.md.
