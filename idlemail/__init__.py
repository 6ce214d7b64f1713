"""
idlemail: IMAP4 IDLE push e-mail for Twisted.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
