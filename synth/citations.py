"""The papers each stage and each export follows; the dataset card cites every one in use."""

PAPERS = {
    "gsm8k": 'Cobbe et al., "Training Verifiers to Solve Math Word Problems", 2021. arXiv:2110.14168',
    "irpo": 'Pang et al., "Iterative Reasoning Preference Optimization", 2024. arXiv:2404.19733',
    "math-shepherd": 'Wang et al., "Math-Shepherd: Verify and Reinforce LLMs Step-by-step without Human Annotations", 2024. arXiv:2312.08935',
    "math-verify": 'Hugging Face, "Math-Verify: a robust mathematical expression evaluation system", 2025. https://github.com/huggingface/Math-Verify',
    "smollm2": 'Allal et al., "SmolLM2: When Smol Goes Big - Data-Centric Training of a Small Language Model", 2025. arXiv:2502.02737',
    "vllm": 'Kwon et al., "Efficient Memory Management for Large Language Model Serving with PagedAttention", 2023. arXiv:2309.06180',
    "lemma": 'Pan et al., "LEMMA: Learning from Errors for MatheMatical Advancement in LLMs", 2025. arXiv:2503.17439',
    "processbench": 'Zheng et al., "ProcessBench: Identifying Process Errors in Mathematical Reasoning", 2024. arXiv:2412.06559',
    "automathcritique": 'Xi et al., "Enhancing LLM Reasoning via Critique Models with Test-Time and Training-Time Supervision" (AutoMathCritique), 2024. arXiv:2411.16579',
    "deepcritic": 'Yang et al., "DeepCritic: Deliberate Critique with Large Language Models", 2025. arXiv:2505.00662',
    "cft": 'Wang et al., "Critique Fine-Tuning: Learning to Critique is More Effective than Learning to Imitate", 2025. arXiv:2501.17703',
    "humaneval": 'Chen et al., "Evaluating Large Language Models Trained on Code" (HumanEval), 2021. arXiv:2107.03374',
    "minhash": 'Broder, "On the Resemblance and Containment of Documents", 1997. doi:10.1109/SEQUEN.1997.666900',
    "gpt3-decontamination": 'Brown et al., "Language Models are Few-Shot Learners" (13-gram overlap decontamination), 2020. arXiv:2005.14165',
    "ultrafeedback": 'Cui et al., "UltraFeedback: Boosting Language Models with Scaled AI Feedback", 2023. arXiv:2310.01377',
    "zephyr": 'Tunstall et al., "Zephyr: Direct Distillation of LM Alignment", 2023. arXiv:2310.16944',
    "mt-bench": 'Zheng et al., "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena", 2023. arXiv:2306.05685',
    "dpo": 'Rafailov et al., "Direct Preference Optimization: Your Language Model is Secretly a Reward Model", 2023. arXiv:2305.18290',
    "length-correlations": 'Singhal et al., "A Long Way to Go: Investigating Length Correlations in RLHF", 2023. arXiv:2310.03716',
}

STAGE_CITATIONS = {
    "generate": ["vllm"],
    "inject": ["lemma", "processbench"],
    "inject_llm": ["lemma"],
    "mc_label": ["math-shepherd"],
    "critique": ["automathcritique"],
    "pair": ["length-correlations"],
    "near_dedup": ["minhash"],
    "decontaminate": ["gpt3-decontamination"],
}

# Stages whose method is a recipe setting: stage -> setting value -> papers.
METHOD_CITATIONS = {
    "seeds": {"gsm8k": ["gsm8k"], "humaneval": ["humaneval"]},
    "generate": {"solve_math": ["math-shepherd"]},
    "verify": {"solve_math": ["gsm8k", "math-verify"], "solve_code": ["humaneval"]},
    "judge": {"ratings": ["ultrafeedback"], "pairwise": ["mt-bench"]},
    "pair": {"verified": ["irpo"], "ratings": ["ultrafeedback", "zephyr"], "pairwise": ["mt-bench"]},
}

TABLE_CITATIONS = {
    "processbench": ["processbench"],
    "math_shepherd": ["math-shepherd"],
    "critique_sft": ["cft"],
    "dpo": ["dpo"],
    "humaneval": 'Chen et al., "Evaluating Large Language Models Trained on Code" (HumanEval), 2021. arXiv:2107.03374',
    "minhash": 'Broder, "On the Resemblance and Containment of Documents", 1997. doi:10.1109/SEQUEN.1997.666900',
    "gpt3-decontamination": 'Brown et al., "Language Models are Few-Shot Learners" (13-gram overlap decontamination), 2020. arXiv:2005.14165',
    "ultrafeedback": ["ultrafeedback"],
}
