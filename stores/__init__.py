"""Rasa-side storage of the 医保家庭助手: the masking tracker store and the store connectivity checks."""
