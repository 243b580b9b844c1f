"""Short reference runs: the loop (:mod:`.loop`), its data (:mod:`.data`), where it runs
(:mod:`.runtime`), what it leaves behind (:mod:`.runfolder`) and how inputs are prepared
(:mod:`.setup`).  Import the submodule you need; this package imports nothing heavy itself.
"""
