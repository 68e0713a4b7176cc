"""image/registry"""
