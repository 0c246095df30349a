"""The proof of concept (naive.py, adversarial.py): a 1-D generator trained by MSE or adversarially."""
