// Module MiniCacheServer: being built; see ../shared/DESIGN.md.
